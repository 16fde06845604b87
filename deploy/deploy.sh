#!/usr/bin/env bash
# Rolling deploy of a montana-actors package to the hosts of the cluster configuration, over SSH.
#
#   deploy/deploy.sh --package montana-actors_0.1.0-1_amd64.deb [options]
#
# Order: the nodes that hold no duty first, in reverse chain order (novosibirsk, spb, ...), the
# holders last. Per host: copy the package, install it with apt (the package's postinst restarts
# a running service: SIGTERM, so a holder hands its duty over first) and check that dpkg reports
# the package's version installed, then wait until the host's shell (montana-actors shell on the
# host, over the same SSH) sees the node back — a new
# incarnation running the package's version, linked again to every node that was reachable
# before the roll, one holder per duty. The first failure stops the roll with a line saying what
# was done and what was not. Nothing is ever run on two hosts at once unless --parallel, and
# never on the holders.
#
# Options:
#   --package FILE     the .deb to install (required)
#   --config FILE      the cluster configuration (default /etc/montana/montana.toml): the nodes,
#                      their hosts and their order
#   --node NAME        only this node (repeatable); the order stays the roll's
#   --dry-run          print the plan and exit
#   --parallel         upgrade the nodes that hold no duty all at once, then the holders one by one
#   --user USER        SSH user (default root; any other runs the remote commands with sudo -n)
#   --ssh "CMD"        the SSH command (default "ssh -o BatchMode=yes -o ConnectTimeout=10")
#   --binary PATH      the local montana-actors that reads --config (default: on PATH)
#   --timeout SECONDS  how long a host may take to come back healthy (default 180)
#
# Needs: ssh, jq, dpkg-deb, and a local montana-actors to read the configuration. Exit: 0 all
# done, 1 the roll stopped, 2 bad usage. docs/operations.md, "Rolling deploy".
set -euo pipefail

die_usage() {
  echo "deploy: $*" >&2
  echo "usage: deploy/deploy.sh --package FILE.deb [--config FILE] [--node NAME]..." >&2
  echo "       [--dry-run] [--parallel] [--user USER] [--ssh CMD] [--binary PATH] [--timeout S]" >&2
  exit 2
}

package=""
config=/etc/montana/montana.toml
only=()
dry_run=0
parallel=0
user=root
ssh_command="ssh -o BatchMode=yes -o ConnectTimeout=10"
binary=montana-actors
timeout=180

while [ $# -gt 0 ]; do
  case $1 in
  --package | --config | --node | --user | --ssh | --binary | --timeout)
    [ $# -ge 2 ] || die_usage "$1 needs a value"
    case $1 in
    --package) package=$2 ;;
    --config) config=$2 ;;
    --node) only+=("$2") ;;
    --user) user=$2 ;;
    --ssh) ssh_command=$2 ;;
    --binary) binary=$2 ;;
    --timeout) timeout=$2 ;;
    esac
    shift 2
    ;;
  --dry-run) dry_run=1 && shift ;;
  --parallel) parallel=1 && shift ;;
  -h | --help) sed -n '2,30p' "$0" && exit 0 ;;
  *) die_usage "unknown argument '$1'" ;;
  esac
done

[ -n "$package" ] || die_usage "--package is required"
[ -r "$package" ] || die_usage "cannot read the package $package"
[[ $timeout =~ ^[0-9]+$ ]] || die_usage "--timeout must be a number of seconds"
for tool in jq dpkg-deb "${ssh_command%% *}" "$binary"; do
  command -v "$tool" >/dev/null || die_usage "$tool is not installed"
done

read -r -a ssh_argv <<<"$ssh_command"
sudo=""
[ "$user" = root ] || sudo="sudo -n "

version=$(dpkg-deb -f "$package" Version)
upstream=${version%-*}
[ "$(dpkg-deb -f "$package" Package)" = montana-actors ] || die_usage "$package is no montana-actors package"

names=()
declare -A host
while read -r name address _; do
  names+=("$name")
  host[$name]=$address
done < <("$binary" check-config --list "$config")
[ ${#names[@]} -gt 0 ] || die_usage "$config lists no nodes"
for name in "${only[@]}"; do
  [ -n "${host[$name]:-}" ] || die_usage "unknown node '$name' (known: ${names[*]})"
done

remote() {
  local name=$1
  shift
  "${ssh_argv[@]}" "$user@${host[$name]}" "$@"
}

# The node's own shell on its host: a local socket there, reached over SSH like systemctl.
shell() {
  local name=$1
  shift
  remote "$name" "${sudo}montana-actors shell --node $name --json $*" 2>/dev/null
}

# The cluster as the first node that answers sees it: who is reachable, who holds which duty.
view=""
for name in "${names[@]}"; do
  if view=$(shell "$name" cluster); then
    break
  fi
  view=""
done
[ -n "$view" ] || {
  echo "deploy: no node of $config answers its shell over SSH ($user@host); nothing done" >&2
  exit 1
}
mapfile -t reachable < <(jq -r '.[] | select(.reachable) | .node' <<<"$view")
mapfile -t holders < <(jq -r '.[] | select(.reachable) | .node as $n
  | .status.duties[] | select(.role == "holder") | $n' <<<"$view" | sort -u)
mapfile -t duties < <(jq -r '[.[] | select(.reachable) | .status.duties[].duty] | unique | .[]' <<<"$view")

is_in() {
  local needle=$1
  shift
  local x
  for x in "$@"; do [ "$x" = "$needle" ] && return 0; done
  return 1
}

# Reverse chain order, the holders last.
standbys=()
last=()
for ((i = ${#names[@]} - 1; i >= 0; i--)); do
  name=${names[$i]}
  if [ ${#only[@]} -gt 0 ] && ! is_in "$name" "${only[@]}"; then
    continue
  fi
  if is_in "$name" "${holders[@]}"; then last+=("$name"); else standbys+=("$name"); fi
done
order=("${standbys[@]}" "${last[@]}")

echo "deploy: montana-actors $version to ${#order[@]} of ${#names[@]} hosts, in this order: ${order[*]}"
echo "deploy: holders now: ${holders[*]:-none}; reachable: ${reachable[*]:-none}"
if [ $dry_run = 1 ]; then
  for name in "${order[@]}"; do
    role=standby
    is_in "$name" "${holders[@]}" && role=holder
    is_in "$name" "${reachable[@]}" || role="not reachable: installed, not waited for"
    echo "would upgrade $name ($user@${host[$name]}; $role)"
  done
  exit 0
fi

done_hosts=()
fail() {
  local name=$1
  shift
  local left=()
  local x
  for x in "${order[@]}"; do is_in "$x" "${done_hosts[@]}" "$name" || left+=("$x"); done
  echo "deploy: $name: FAILED: $*" >&2
  echo "deploy: the roll stops here; upgraded: ${done_hosts[*]:-none}; not touched: ${left[*]:-none}" >&2
  exit 1
}

# Healthy: a new incarnation runs this version, linked to every other node reachable before the
# roll, and its view of the cluster has exactly one holder per duty. Otherwise `why` says what
# is missing.
why=""
healthy() {
  local name=$1 before=$2 status links view_now
  if ! status=$(shell "$name" status); then
    why="the shell cannot reach it"
    return 1
  fi
  local running incarnation
  running=$(jq -r .version <<<"$status")
  incarnation=$(jq -r .incarnation <<<"$status")
  if [ "$incarnation" = "$before" ]; then
    why="it still runs the incarnation from before ($before)"
    return 1
  fi
  if [ "$running" != "$upstream" ]; then
    why="it runs version $running"
    return 1
  fi
  links=$(jq -r '.links[] | select(.linked) | .node' <<<"$status")
  local other missing=()
  for other in "${reachable[@]}"; do
    [ "$other" = "$name" ] || grep -qx "$other" <<<"$links" || missing+=("$other")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    why="not linked to ${missing[*]}"
    return 1
  fi
  if ! view_now=$(shell "$name" cluster); then
    why="its cluster view does not answer"
    return 1
  fi
  local duty count
  for duty in "${duties[@]}"; do
    count=$(jq --arg d "$duty" '[.[] | select(.reachable) | .status.duties[]
      | select(.duty == $d and .role == "holder")] | length' <<<"$view_now")
    if [ "$count" != 1 ]; then
      why="$count holders of $duty"
      return 1
    fi
  done
}

upgrade() {
  local name=$1 before="" deadline
  before=$(shell "$name" status | jq -r .incarnation) || before=""
  echo "deploy: $name: copying the package to ${host[$name]}"
  remote "$name" "cat > /tmp/montana-actors-deploy.deb" <"$package" ||
    fail "$name" "cannot copy the package over SSH to $user@${host[$name]}"
  echo "deploy: $name: installing (a running service restarts and hands its duties over)"
  remote "$name" "${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    --reinstall --allow-downgrades /tmp/montana-actors-deploy.deb >/tmp/montana-actors-deploy.log 2>&1 \
    || { tail -n 5 /tmp/montana-actors-deploy.log >&2; exit 1; }; rm -f /tmp/montana-actors-deploy.deb" ||
    fail "$name" "the package did not install (the lines above are apt's)"
  local installed
  installed=$(remote "$name" "dpkg-query -W -f '\${Version}' montana-actors") || installed="none"
  [ "$installed" = "$version" ] ||
    fail "$name" "dpkg reports montana-actors $installed installed, not $version"
  if ! is_in "$name" "${reachable[@]}"; then
    echo "deploy: $name: installed; it was not running before the roll, so it is not waited for"
    done_hosts+=("$name")
    return
  fi
  deadline=$((SECONDS + timeout))
  local nudged=0
  until healthy "$name" "$before"; do
    # The postinst restarts a running service; a host whose policy-rc.d forbids that still runs
    # the old process: restart it once.
    if [ $nudged = 0 ] && [ $SECONDS -ge $((deadline - timeout + 15)) ] &&
      [ "$(shell "$name" status | jq -r .incarnation)" = "$before" ]; then
      echo "deploy: $name: the package did not restart the service (policy-rc.d?): restarting it"
      remote "$name" "${sudo}systemctl try-restart montana-actors.service" ||
        fail "$name" "systemctl try-restart montana-actors failed"
      nudged=1
    fi
    [ $SECONDS -lt $deadline ] ||
      fail "$name" "not healthy within $timeout s: $why (see: montana-actors shell --node $name status)"
    sleep 1
  done
  echo "deploy: $name: healthy: montana-actors $upstream, back in the mesh"
  done_hosts+=("$name")
}

if [ $parallel = 1 ] && [ ${#standbys[@]} -gt 1 ]; then
  pids=()
  for name in "${standbys[@]}"; do
    (upgrade "$name") &
    pids+=($!)
  done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ $failed = 0 ] || {
    echo "deploy: the roll stops here: an upgrade of the nodes holding no duty failed (above)" >&2
    exit 1
  }
  done_hosts+=("${standbys[@]}")
  for name in "${last[@]}"; do upgrade "$name"; done
else
  for name in "${order[@]}"; do upgrade "$name"; done
fi
echo "deploy: done: ${done_hosts[*]} run montana-actors $upstream"
