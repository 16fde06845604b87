#!/usr/bin/env bash
# Installs the Debian bookworm packages montana-actors needs to build, package, test and run
# (dpkg-dev, file: the package's dependencies; adduser: its postinst; systemd: systemd-analyze;
# jq and openssh-client: deploy.sh; openssh-server: the deploy suite's test hosts; python3: the
# channel suites' attacking client and the chaos suites' Telegram stand-in and duty; shellcheck
# and clang-format: the source.lint suite), and promtool (deploy.alerts: the shipped alert rules).
# Idempotent: installs only what is missing; does nothing when everything is present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libcaf-dev libssl-dev openssl
  libgit2-dev libssh2-1-dev
  libboost1.74-dev libboost-filesystem1.74-dev
  libspdlog-dev libfmt-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
  libedit-dev libsystemd-dev
  iproute2 procps python3
  dpkg-dev file adduser shellcheck clang-format systemd
  jq openssh-client openssh-server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# promtool alone, from Debian's prometheus package: installing the package would also install
# and start a Prometheus server on this machine.
if ! command -v promtool >/dev/null; then
  echo "install-deps: installing promtool from Debian's prometheus package"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # apt downloads as its own user when it can write the folder.
  chmod 0755 "$tmp"
  if id _apt >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    chown _apt "$tmp"
  fi
  if ! (cd "$tmp" && apt-get download -qq prometheus); then
    "${sudo_cmd[@]}" apt-get update -qq
    (cd "$tmp" && apt-get download -qq prometheus)
  fi
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
  "${sudo_cmd[@]}" install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
fi
