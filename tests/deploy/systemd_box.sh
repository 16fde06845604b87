#!/usr/bin/env bash
# A Debian host with a real systemd as PID 1 in a container, for the deploy.systemd suite:
# a minbase root built by mmdebstrap from this machine's own apt sources, booted by
# systemd-nspawn over a throw-away overlay. Needs root, systemd-container and mmdebstrap.
#
# Usage (as root):
#   systemd_box.sh deps          installs systemd-container and mmdebstrap, this host unchanged
#   systemd_box.sh root DEB      prints the cached root for DEB's dependencies (builds it once)
#   systemd_box.sh boot ROOT DIR boots ROOT with its writes in DIR; becomes systemd-nspawn
#                                (signal that pid to stop the container)
#   systemd_box.sh clean         removes the empty cgroups a stopped container leaves behind
#
# `root` exits 77 with "skip: WHY" when this machine cannot build a root. The cache lives in
# $MONTANA_TEST_CACHE, else $XDG_CACHE_HOME/montana-tests, else /var/cache/montana-tests: one
# directory systemd-root-<key> per package list (the key: a hash of the sorted list and of this
# host's versions of the .deb's dependencies, so an upgraded host builds a new root). Delete
# the old ones by hand.
set -euo pipefail

cache=${MONTANA_TEST_CACHE:-${XDG_CACHE_HOME:-/var/cache}/montana-tests}
# What the container needs besides the package's own dependencies: systemd as PID 1 and its
# bus, the tools the suite runs inside, python3 for the duty, git and sshd for a breather over SSH.
base=systemd,systemd-sysv,dbus,iproute2,procps,adduser,libcap2-bin,python3,git,openssh-server

skip() {
  echo "skip: $*"
  exit 77
}

# The dependencies named in DEB's Depends: each alternative's first package, no versions.
depends_of() {
  dpkg-deb -f "$1" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g' |
    grep -v '^$'
}

# This machine's Debian sources, as apt reads them (disabled files left out).
sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && echo "$f"
  done
}

case ${1:-} in
deps)
  # --no-install-recommends: systemd-container recommends libnss-mymachines, whose postinst adds
  # `mymachines` to /etc/nsswitch.conf. Compared anyway and put back if anything changed it.
  saved=$(mktemp)
  cp -p /etc/nsswitch.conf "$saved"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    systemd-container mmdebstrap
  if ! cmp -s "$saved" /etc/nsswitch.conf; then
    cp -p "$saved" /etc/nsswitch.conf
    echo "restored /etc/nsswitch.conf"
  fi
  rm -f "$saved"
  ;;
root)
  deb=$2
  [ "$(id -u)" = 0 ] || skip "the container needs root"
  for tool in mmdebstrap systemd-nspawn nsenter setpriv dpkg-deb; do
    command -v "$tool" >/dev/null ||
      skip "no $tool here: tests/deploy/systemd_box.sh deps installs systemd-container and mmdebstrap"
  done
  mapfile -t files < <(sources)
  [ "${#files[@]}" -gt 0 ] || skip "no apt sources on this machine for mmdebstrap"
  list=$( (
    echo "$base" | tr ',' '\n'
    depends_of "$deb"
  ) | sort -u | paste -sd, -)
  suite=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
  # The host's versions of the .deb's dependencies too: the package is linked against them, and
  # apt inside has no network to fetch newer ones than the root holds.
  mapfile -t needed < <(depends_of "$deb")
  versions=$(dpkg-query -W "${needed[@]}" 2>/dev/null | sort || true)
  key=$(printf '%s\n' "$suite" "$list" "$versions" | sha256sum | cut -c1-16)
  root=$cache/systemd-root-$key
  mkdir -p "$cache"
  # One builder at a time; a second run waits and then finds the root.
  exec 9>"$cache/.lock"
  flock 9
  if [ ! -e "$root/.complete" ]; then
    rm -rf "$root.new"
    mkdir -p "$root.new"
    if ! mmdebstrap --quiet --variant=minbase --include="$list" "$suite" "$root.new" "${files[@]}" \
      >"$cache/mmdebstrap.log" 2>&1; then
      tail -20 "$cache/mmdebstrap.log" >&2
      rm -rf "$root.new"
      echo "mmdebstrap failed (log: $cache/mmdebstrap.log)" >&2
      exit 1
    fi
    echo "$list" >"$root.new/.packages"
    touch "$root.new/.complete"
    rm -rf "$root"
    mv "$root.new" "$root"
  fi
  echo "$root"
  ;;
boot)
  root=$2
  dir=$3
  # A private mount namespace holds the overlay for as long as the container runs: the cached
  # root is never written, the host's mount table never changes.
  # (A marker, not a comparison with /proc/1/ns/mnt: PID 1's is unreadable on some hosts.)
  if [ -z "${MONTANA_PRIVATE_MOUNTS:-}" ]; then
    MONTANA_PRIVATE_MOUNTS=1 exec unshare --mount --propagation private "$0" "$@"
  fi
  mkdir -p "$dir/upper" "$dir/work" "$dir/root"
  mount -t overlay overlay -o "lowerdir=$root,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
  # --register=no --keep-unit: no systemd runs on this host (without them "Failed to open system
  # bus"); the unified hierarchy for the container's systemd; -U (user namespaces) fails here.
  # --pdeathsig: a test that ends without stopping the container (an abort) stops it all the
  # same — nspawn gets SIGTERM, and a SIGTERM is a clean shutdown of the container.
  export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
  exec setpriv --pdeathsig TERM systemd-nspawn --quiet -D "$dir/root" --boot --register=no --keep-unit --private-network \
    --machine=montana-test
  ;;
clean)
  # A stopped container leaves its cgroups behind (a killed one, its whole tree): rmdir removes
  # only empty ones, deepest first, so a running container's stay.
  for hierarchy in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
    for group in payload supervisor; do
      if [ -d "$hierarchy/$group" ]; then
        find "$hierarchy/$group" -depth -type d -exec rmdir {} + 2>/dev/null || true
      fi
    done
  done
  ;;
*)
  sed -n '2,16p' "$0" >&2
  exit 2
  ;;
esac
