#!/usr/bin/env bash
# Installs what is missing, builds the service and starts the local five-node demo.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)" --target montana-actors
exec build/montana-actors demo "$@"
