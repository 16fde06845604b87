#!/usr/bin/env bash
# Builds the Debian package: build/montana-actors_<version>-1_<arch>.deb (installs missing
# Debian packages first). Install it with `apt install ./build/montana-actors_*.deb`.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)" --target montana-actors
cd build
cpack -G DEB
