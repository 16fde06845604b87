#!/usr/bin/env bash
# One host of the deploy suite's five: a private mount namespace in which an overlay over / sends
# every write to a tmpfs, with empty /run and /tmp, the test's directory bound in at its own
# path, and the systemctl stand-in (no systemd runs here). montana-actors is installed from DEB
# with the real dpkg, configured as node NAME from SETUP, started, and an sshd on ADDRESS:PORT
# lets the key SETUP/id_ed25519.pub in as root — so deploy.sh reaches it like a real host. Runs
# until SIGTERM, then stops the service and sshd; everything written is gone with it.
#
# Usage (as root): fake_host.sh NAME ADDRESS PORT DEB SETUP SHARED
#   SETUP holds montana.toml, NAME.key, certs/*.crt, nodes.json, id_ed25519.pub;
#   SHARED is bound in (the duty's record file lives there); SHARED/NAME.ready appears when up;
#   the host's /var/log is SHARED/NAME.log (the service's output: montana-actors.log).
set -euo pipefail

# A marker, not a comparison with /proc/1/ns/mnt: where PID 1's link is unreadable (these test
# machines), that comparison sent every mount below into the host's namespace.
if [ -z "${MONTANA_PRIVATE_MOUNTS:-}" ]; then
  MONTANA_PRIVATE_MOUNTS=1 exec unshare --mount --propagation private "$0" "$@"
fi
# unshare ran in this very process: the parent is still the test, which may end without saying
# so (an abort): then this host goes too. Its start time tells it from a later process that
# gets the same pid.
parent=$PPID
started() {
  # Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces).
  sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}
parent_start=$(started "$parent")

name=$1 address=$2 port=$3 deb=$(realpath "$4") setup=$(realpath "$5") shared=$(realpath "$6")
here=$(dirname "$(realpath "$0")")
top=$(mktemp -d)
sshd_pid=""

in_root() {
  chroot "$root" "$@"
}

finish() {
  if [ -n "$sshd_pid" ]; then
    kill "$sshd_pid" 2>/dev/null || true
  fi
  in_root /usr/sbin/systemctl stop montana-actors.service || true
  umount --recursive --lazy "$top" || true
  rmdir "$top" || true
}
trap finish EXIT
trap 'exit 0' TERM INT

mount -t tmpfs tmpfs "$top"
mkdir "$top/upper" "$top/work" "$top/root"
root=$top/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$root"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
mkdir -p "$root/run/systemd/system" "$root/run/sshd" "$root$shared"
mount --bind "$shared" "$root$shared"
# The host's /var/log (the service's log among it) stays after the host: the test shows it.
mkdir -p "$shared/$name.log/apt"
mount --bind "$shared/$name.log" "$root/var/log"
# /usr/sbin comes before /usr/bin in apt's DPkg::Path for the maintainer scripts, too.
install -m 0755 "$here/systemctl" "$root/usr/sbin/systemctl"
# A container's policy-rc.d forbids service starts in maintainer scripts; a host has none.
rm -f "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/montana-actors.deb"

# The package, as on a fresh host: no node name yet, so it is not started.
if in_root dpkg-query -W montana-actors >/dev/null 2>&1; then
  in_root dpkg --purge montana-actors >/dev/null
fi
in_root dpkg -i /tmp/montana-actors.deb >/dev/null
rm -f "$root/tmp/montana-actors.deb"

# This host's node: configuration, name, identity and the cluster's certificates and registry.
cp "$setup/montana.toml" "$root/etc/montana/montana.toml"
sed -i "s/^MONTANA_NODE_NAME=.*/MONTANA_NODE_NAME=$name/" "$root/etc/montana/montana.env"
install -m 0600 "$setup/$name.key" "$root/etc/montana/identity/$name.key"
in_root chown montana:montana "/etc/montana/identity/$name.key"
crypto=/var/lib/montana/repo/node_crypto
mkdir -p "$root$crypto/certs"
cp "$setup"/certs/*.crt "$root$crypto/certs/"
cp "$setup/nodes.json" "$root$crypto/nodes.json"
in_root chown -R montana:montana /var/lib/montana
in_root systemctl start montana-actors.service

# An sshd for deploy.sh: root with the test's key only.
in_root ssh-keygen -A >/dev/null
mkdir -p "$root/root/.ssh"
install -m 0600 "$setup/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
cat >"$root/etc/ssh/sshd_config.test" <<EOF
ListenAddress $address:$port
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile /root/.ssh/authorized_keys
PidFile /run/sshd.test.pid
EOF
# Not through in_root: $! must be sshd's own pid (chroot execs it).
chroot "$root" /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config.test 2>>"$shared/$name.sshd.log" &
sshd_pid=$!
# Ready once sshd listens (it binds a moment after it starts), for at most 10 s.
for _ in $(seq 200); do
  if (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null; then
    touch "$shared/$name.ready"
    break
  fi
  kill -0 "$sshd_pid" 2>/dev/null || break
  sleep 0.05
done
[ -e "$shared/$name.ready" ] || echo "$name: sshd is not listening on $address:$port" >&2
while [ "$(started "$parent")" = "$parent_start" ]; do
  sleep 1
done
