#!/usr/bin/env bash
# Installs a montana-actors .deb with the real dpkg into a throw-away copy of this machine and
# prints what the deploy.package suite checks. The copy: a private mount namespace in which an
# overlay over / sends every write to a tmpfs, with empty /run and /tmp — the host's users, /etc,
# dpkg database and service manager never see a thing, and it is all gone when this script ends.
#
# Usage (as root): dpkg_sandbox.sh DEB
# Steps: install; the admin edits montana.toml and montana.env and adds a key and state;
# upgrade (the same package again); remove; purge. After each: "STEP: FACT" lines.
set -euo pipefail

# Re-run in a private mount namespace; nothing below runs in the host's.
# A marker, not a comparison with /proc/1/ns/mnt: where PID 1's link is unreadable (these test
# machines), that comparison sent every mount below into the host's namespace.
if [ -z "${MONTANA_PRIVATE_MOUNTS:-}" ]; then
  MONTANA_PRIVATE_MOUNTS=1 exec unshare --mount --propagation private "$0" "$@"
fi

deb=$(realpath "$1")
top=$(mktemp -d)
trap 'umount --recursive --lazy "$top"; rmdir "$top"' EXIT
mount -t tmpfs tmpfs "$top"
mkdir "$top/upper" "$top/work" "$top/root"
root=$top/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$root"
mountpoint -q "$root"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
# No /run/systemd/system in here: the maintainer scripts see no running systemd.
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
cp "$deb" "$root/tmp/montana-actors.deb"

in_root() {
  chroot "$root" "$@"
}

report() {
  local step=$1
  if in_root getent passwd montana >/dev/null; then
    in_root getent passwd montana |
      awk -F: -v s="$step" '{ print s ": user montana " ($3 < 1000 ? "system" : "regular") " " $6 " " $7 }'
  else
    echo "$step: no user montana"
  fi
  local path
  for path in /usr/bin/montana-actors /lib/systemd/system/montana-actors.service \
    /etc/montana/montana.toml /etc/montana/montana.env /etc/montana/identity \
    /etc/montana/identity/moscow.key /var/lib/montana /var/lib/montana/repo; do
    if [ -e "$root$path" ]; then
      echo "$step: $(in_root stat -c '%n %U %G %a' "$path")"
    else
      echo "$step: $path missing"
    fi
  done
  if [ -L "$root/etc/systemd/system/multi-user.target.wants/montana-actors.service" ]; then
    echo "$step: enabled"
  else
    echo "$step: not enabled"
  fi
  if [ -e "$root/etc/montana/montana.toml" ] && grep -q '^# edited by the admin$' "$root/etc/montana/montana.toml"; then
    echo "$step: montana.toml keeps the admin's edit"
  fi
  if [ -e "$root/etc/montana/montana.env" ] && grep -q '^MONTANA_NODE_NAME=moscow$' "$root/etc/montana/montana.env"; then
    echo "$step: montana.env keeps the admin's node name"
  fi
}

# A machine that has the package installed starts clean.
if in_root dpkg-query -W montana-actors >/dev/null 2>&1; then
  in_root dpkg --purge montana-actors >/dev/null
fi

in_root dpkg -i /tmp/montana-actors.deb >/dev/null
report install

echo "# edited by the admin" >>"$root/etc/montana/montana.toml"
sed -i 's/^MONTANA_NODE_NAME=$/MONTANA_NODE_NAME=moscow/' "$root/etc/montana/montana.env"
in_root install -o montana -g montana -m 0600 /dev/null /etc/montana/identity/moscow.key
in_root install -d -o montana -g montana -m 0750 /var/lib/montana/repo

in_root dpkg -i --force-confold /tmp/montana-actors.deb >/dev/null
report upgrade

in_root dpkg --remove montana-actors >/dev/null
report remove

in_root dpkg --purge montana-actors >/dev/null
report purge
