// Every message that crosses an actor boundary, locally or between nodes.
//
// All types live in one CAF type-ID block (`montana`) that every node registers
// through `register_messages`. A peer that sends a type we do not know, or a
// known type we cannot deserialize, is dropped by CAF's deserializer; our
// actors additionally treat unexpected messages as log-and-drop.
#pragma once

#include <caf/all.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace montana {

/// How a probe judges a peer; only `dead` lets a lower node take a duty.
enum class verdict : uint8_t { unknown, alive, suspect, dead };

/// Outcome of one check: `unavailable` means it cannot run here, not that it failed.
enum class check_status : uint8_t { ok, failed, unavailable };

/// Which checks decide a probe's verdict.
enum class check_mode : uint8_t { service, host };

/// The role of a node for one duty (see actors/chain_rule.hpp).
enum class duty_role : uint8_t { standby, claiming, holder, releasing };

/// What a live event of `watch` is about.
enum class event_kind : uint8_t { role, verdict, link, duty, breath, action };

/// Who owns the synced working files during a breath (see runtime/git_port.hpp).
enum class sync_mode : uint8_t {
  /// No duty runs here: the working files follow the remote; the remote wins a same-key
  /// conflict.
  follow,
  /// A duty runs here: its process owns the working files (nothing rewrites them under it) and
  /// its writes win a same-key conflict.
  hold,
  /// A duty's process just stopped here (the old holder's hand-over breath): its last writes
  /// win, and the working files follow the remote again.
  release,
};

std::string to_string(verdict x);
std::string to_string(duty_role x);
std::string to_string(event_kind x);
std::string to_string(sync_mode x);

// -- between nodes (their wire form is in messages/wire.hpp) -----------------------

/// Service liveness check; answered with `pong` by the peer's gateway.
struct ping {
  std::string from;
  uint64_t seq = 0;
};

/// Answer to `ping`.
struct pong {
  std::string node;
  uint64_t seq = 0;
};

/// `from` is about to run `duty` under `term`: every receiver must stop it first.
struct claim {
  std::string duty;
  std::string from;
  uint64_t term = 0;
};

/// Answer to `claim` of `term`: `from` does not run `duty` and will not while the
/// claimer lives; `highest` is the highest term `from` has seen.
struct released {
  std::string duty;
  std::string from;
  uint64_t term = 0;
  uint64_t highest = 0;
};

/// Answer to a claim of `term` from a lower node: `from` is alive and ranks above the
/// claimer; `highest` is the highest term `from` has seen.
struct refused {
  std::string duty;
  std::string from;
  uint64_t term = 0;
  uint64_t highest = 0;
};

/// `from` stepped down from `duty` (operator drain, or leaving): the nodes below it may claim
/// past it; it keeps a running duty until one of them claims.
struct stepped_down {
  std::string duty;
  std::string from;
};

/// `from` takes part in `duty`'s chain again after stepping down.
struct resumed {
  std::string duty;
  std::string from;
};

/// Asks a linked node's gateway for its node_status (the shell's `cluster`).
struct status_query {
  std::string from;
};

/// Asks a linked node whether it still sees `target` alive (an indirect probe): `from` has lost
/// `target` and wants a second opinion before it judges it dead.
struct probe_req {
  std::string from;
  std::string target;
};

/// Answer to `probe_req`: `node` has a live link to `target` right now (heartbeats within the
/// connection timeout) when `alive`.
struct probe_ack {
  std::string node;
  std::string target;
  bool alive = false;
};

/// Which message of the claim protocol a relay carries.
enum class relay_kind : uint8_t { claim, released, refused };

std::string to_string(relay_kind x);

/// A claim, released or refused from `origin` to `to`, whose direct link is down: sent to a node
/// linked to both, which passes it on as `relayed`. `highest` is unused for a claim.
struct relay {
  std::string to;
  std::string origin;
  relay_kind kind = relay_kind::claim;
  std::string duty;
  uint64_t term = 0;
  uint64_t highest = 0;
};

/// A relay passed on by `via`: the message of `origin` (as `via` vouches).
struct relayed {
  std::string via;
  std::string origin;
  relay_kind kind = relay_kind::claim;
  std::string duty;
  uint64_t term = 0;
  uint64_t highest = 0;
};

/// `from`'s role and term for `duty`, told to a node when their link comes up, so that two
/// holders that meet settle at once (the lower releases).
struct duty_state {
  std::string duty;
  std::string from;
  duty_role role = duty_role::standby;
  uint64_t term = 0;
};

/// New probe timings for a probe (a SIGHUP reload); durations in milliseconds.
struct probe_timing {
  int64_t interval_ms = 0;
  int64_t timeout_ms = 0;
  int64_t retry_ms = 0;
  /// A peer never seen since the probe started is not judged dead before this.
  int64_t unknown_grace_ms = 0;
  check_mode checks = check_mode::service;
  int32_t rise = 0;
  int32_t fall = 0;
};

/// New settings for a duty's next process (a SIGHUP reload); durations in milliseconds.
struct duty_update {
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  int64_t stop_grace_ms = 0;
  int64_t restart_min_ms = 0;
  int64_t restart_max_ms = 0;
};

/// The result of an operator action (step-down, resume, duty restart), one line for humans.
struct action_result {
  bool ok = false;
  std::string text;
};

// -- inside one node ------------------------------------------------------------

/// The peer actor has a proven link to `node`; `gateway` reaches that node's gateway.
struct link_up {
  std::string node;
  caf::actor gateway;
};

/// The link to `node` is gone (closed, heartbeat timeout or refused).
struct link_down {
  std::string node;
  std::string reason;
};

/// This node's own network went down (no interface but loopback has a carrier) or came back;
/// `detail` names what was seen.
struct network_changed {
  bool up = true;
  std::string detail;
};

/// The channel authenticated a link to `node` (dialed by this node when `dialed`); its frames
/// follow as `inbound` until `link_closed`.
struct link_opened {
  std::string node;
  uint64_t link = 0;
  uint64_t incarnation = 0;
  /// The protocol version the other end speaks ("1.0").
  std::string version;
  bool dialed = false;
};

/// The channel closed link `link` to `node`.
struct link_closed {
  std::string node;
  uint64_t link = 0;
  std::string reason;
};

/// An attempt to link with `node` failed: this node's dial, or (once `node` proved who it is)
/// its connection, refused for the reason in `problem`.
struct link_failed {
  std::string node;
  std::string problem;
};

/// A probe's verdict on `node` changed (or is repeated for a new subscriber).
struct verdict_changed {
  std::string node;
  verdict value = verdict::unknown;
  std::string reason;
};

/// Someone heard directly from `node` (for example its claim): the probe counts it as alive.
struct heard {
  std::string node;
};

/// Result of one round of checks against a peer, produced off the scheduler threads.
struct check_report {
  std::string node;
  check_status service = check_status::unavailable;
  check_status icmp = check_status::unavailable;
  check_status tcp22 = check_status::unavailable;
  check_status tcp443 = check_status::unavailable;
  std::string detail;
};

/// Asks a bot-supervisor to keep its duty running under `term` (restarting it on exit).
struct run_duty {
  uint64_t term = 0;
};

/// Asks a bot-supervisor to stop its duty; answered with `unit` once no child is left.
struct stop_duty {
  std::string reason;
};

/// The duty's process is running (reported by the supervisor to its leader).
struct duty_started {
  std::string duty;
  uint64_t term = 0;
  int32_t pid = 0;
};

/// The duty's process ended; `requested` is true when we stopped it ourselves.
struct duty_exited {
  std::string duty;
  uint64_t term = 0;
  int32_t pid = 0;
  int32_t exit_code = 0;
  int32_t signal = 0;
  bool requested = false;
};

/// The duty's process could not be started; the supervisor retries with backoff.
struct duty_failed {
  std::string duty;
  uint64_t term = 0;
  std::string reason;
};

/// The launcher started child `id` as process `pid`.
struct child_started {
  uint64_t id = 0;
  int32_t pid = 0;
};

/// Child `id` ended with `exit_code`, or by `signal` when that is non-zero.
struct child_exited {
  uint64_t id = 0;
  int32_t pid = 0;
  int32_t exit_code = 0;
  int32_t signal = 0;
};

/// One line the child wrote; `stream` is "stdout" or "stderr".
struct child_output {
  uint64_t id = 0;
  std::string stream;
  std::string line;
};

/// Child `id` could not be started.
struct child_failed {
  uint64_t id = 0;
  std::string reason;
};

// -- the breather -----------------------------------------------------------------

/// What an exhale committed.
struct exhale_result {
  /// The new commit's id; empty when the synced paths had no change.
  std::string commit;
  /// Synced files whose working copy was written on an older version and, merged with the
  /// branch's version, had a key both sides changed differently (the branch's value kept).
  std::vector<std::string> conflicts;
  /// Conflict copies committed next to them (repository-relative).
  std::vector<std::string> copies;
  /// Synced JSON files that still did not parse when the exhale stopped waiting for their
  /// writer: not committed.
  std::vector<std::string> broken;
  /// Of those, the ones put back to their last good version because no duty process owned
  /// them (the broken file is kept next to it as `<path>.broken-<node>-<utc>`).
  std::vector<std::string> restored;
  /// Synced files read; a file whose size, times and inode did not change since it was last
  /// read is not read again.
  uint64_t files_read = 0;
};

/// What an inhale did to the local branch and the synced working files.
struct inhale_result {
  /// Local commits replayed on top of the remote branch (already applied ones excluded).
  uint64_t replayed = 0;
  /// Files where a local commit and the remote changed the same key differently (or an
  /// opaque file both changed): the remote's version kept, ours in a conflict copy. Once each.
  std::vector<std::string> conflicts;
  /// Conflict copies committed while replaying (repository-relative).
  std::vector<std::string> copies;
  /// Working files written to the branch's new version.
  std::vector<std::string> updated;
  /// Synced working files written while the breath ran: left as they are, merged by the
  /// next exhale.
  std::vector<std::string> deferred;
  /// Other files the branch changed that were also changed locally: left as they are (the
  /// local change wins; git shows the file as modified against the new version).
  std::vector<std::string> kept;
  /// Synced JSON files with a version that did not parse (a broken commit): merged as if that
  /// side had not changed them.
  std::vector<std::string> broken;
};

/// Outcome of one push attempt.
struct push_result {
  /// False when the remote refused it as non-fast-forward.
  bool pushed = false;
  /// Commits the push sent (0 when there was nothing to send or it was refused).
  uint64_t commits = 0;
};

/// One breath, as the breather's history and log line report it. Times are microseconds;
/// `started_us` counts from the Unix epoch.
struct breath_report {
  uint64_t seq = 0;
  int64_t started_us = 0;
  bool ok = false;
  /// The step that failed ("prepare", "exhale", "fetch", "inhale", "push"); empty when ok.
  std::string failed_step;
  /// One line; empty when ok.
  std::string error;
  /// What prepare repaired before this breath; empty when nothing.
  std::string repaired;
  int64_t exhale_us = 0;
  int64_t fetch_us = 0;
  int64_t inhale_us = 0;
  int64_t push_us = 0;
  int64_t total_us = 0;
  /// Pushes tried (a non-fast-forward refusal makes another fetch, inhale and push).
  uint32_t push_attempts = 0;
  /// Commits that came from the remote, and commits this breath pushed.
  uint64_t commits_in = 0;
  uint64_t commits_out = 0;
  /// Local commits still waiting for a push after this breath.
  uint64_t pending = 0;
  std::vector<std::string> conflicts;
  std::vector<std::string> copies;
  /// Same-key conflicts of this breather since it started, this breath's included.
  uint64_t conflicts_total = 0;
  /// Empty for a regular breath; "taking DUTY" or "releasing DUTY" (joined with ", ") for a
  /// hand-over breath.
  std::string handover;
  /// Synced files that did not parse (see exhale_result and inhale_result), and those put back
  /// to their last good version.
  std::vector<std::string> broken;
  std::vector<std::string> restored;
  /// Synced files the exhale read.
  uint64_t files_read = 0;
};

/// Asks the breather for a hand-over breath for `duty`, answered with that breath's report:
/// `taking` before this node starts the duty's process (the working files catch up with the
/// remote, then belong to the process), otherwise once the process is gone (what it wrote is
/// committed and pushed, then the files follow the remote again).
struct handover_breath {
  std::string duty;
  bool taking = false;
};

// -- introspection (every actor answers `inspect_atom` with actor_info) ---------------

/// One named value of an actor's state summary, in display order.
struct state_field {
  std::string key;
  std::string value;
};

/// What an actor tells about itself.
struct actor_info {
  /// The actor's log tag, e.g. "moscow probe amsterdam".
  std::string name;
  /// peer, probe, chain-leader, bot-supervisor, breather, inspector, console, status-http.
  std::string kind;
  /// CAF actor id, unique in the node's actor system.
  uint64_t id = 0;
  /// Messages its behavior handled, and errors it counted (dropped input, failed steps).
  uint64_t handled = 0;
  uint64_t errors = 0;
  std::vector<state_field> state;
};

/// The node's health round: (health_atom, bound) to the guardian, answered once every core actor
/// answered `inspect_atom` or `bound` passed; healthy iff `silent` and `failure` are empty.
struct health_report {
  /// How many actors the guardian supervises.
  uint64_t members = 0;
  /// "ROLE NAME: ERROR" of each one that did not answer within the bound.
  std::vector<std::string> silent;
  /// Why the node failed (a core actor exited); empty while it has not.
  std::string failure;
};

/// One round of a probe's checks.
struct probe_sample {
  /// Wall clock, microseconds since the Unix epoch.
  int64_t at_us = 0;
  bool ok = false;
  /// Round-trip time of the ping (service mode) or of the host checks, microseconds.
  int64_t rtt_us = 0;
  verdict value = verdict::unknown;
  std::string reason;
};

/// A probe's view of its peer: (status_atom) to a probe.
struct probe_status {
  std::string node;
  verdict value = verdict::unknown;
  std::string reason;
  bool linked = false;
  /// When the verdict last changed (wall clock, us); 0 before the first verdict.
  int64_t since_us = 0;
  /// The host checks (ICMP, TCP 22, TCP 443): run every round, decide only in host mode.
  bool host_checked = false;
  bool host_answers = false;
  std::string host_detail;
  uint64_t rounds = 0;
  uint64_t failures = 0;
  /// The last rounds, oldest first (only in the answer of a probe, not inside node_status).
  std::vector<probe_sample> history;
};

/// One link of the peer actor: (status_atom) to the peer lists every other node.
struct link_status {
  std::string node;
  bool linked = false;
  /// Whether this node dials that one (it ranks higher) or waits to be dialed.
  bool dialer = false;
  /// When the link came up or went down (wall clock, us); 0 if never linked.
  int64_t since_us = 0;
  /// Times linked since start.
  uint64_t links = 0;
  /// The dialer's last problem, or the reason the link was lost.
  std::string problem;
};

/// The duty's process on this node, from its bot-supervisor.
struct process_status {
  /// idle, starting, running, backoff or stopping.
  std::string phase;
  int32_t pid = 0;
  uint64_t term = 0;
  /// When the running process started (wall clock, us); 0 when none runs.
  int64_t started_us = 0;
  /// Processes started, and restarts after an unexpected exit or a failed start.
  uint64_t starts = 0;
  uint64_t restarts = 0;
  /// How the last process ended (exit code, or signal when non-zero), or why a start failed.
  std::string last_exit;
  /// The process's last lines of output, oldest first.
  std::vector<std::string> output;
};

/// One node of a duty's chain as this node sees it.
struct chain_member {
  std::string node;
  verdict value = verdict::unknown;
  bool stepped_down = false;
};

/// A chain-leader with its supervisor: (status_atom) to a leader.
struct duty_status {
  std::string duty;
  duty_role role = duty_role::standby;
  uint64_t term = 0;
  /// Why the role last changed, and when (wall clock, us).
  std::string reason;
  int64_t role_since_us = 0;
  bool stepped_down = false;
  bool leaving = false;
  /// The chain in priority order with this node's verdicts; this node has value `alive`.
  std::vector<chain_member> chain;
  /// Nodes whose `released` a claim still waits for.
  std::vector<std::string> pending;
  /// Times this node became holder, and role changes, since start.
  uint64_t takeovers = 0;
  uint64_t role_changes = 0;
  process_status process;
};

/// The breather's totals: (status_atom) to the breather.
struct breath_status {
  bool enabled = false;
  int64_t interval_ms = 0;
  uint64_t breaths = 0;
  uint64_t failures = 0;
  uint64_t conflicts = 0;
  /// Breaths per duration bucket (upper bounds in `breath_buckets_ms`), not cumulative.
  std::vector<uint64_t> buckets;
  int64_t total_us = 0;
  /// When the latest breath that went through started (wall clock, us); 0 if none did yet.
  int64_t last_ok_us = 0;
  /// The latest breath, if any (seq 0 when none yet).
  breath_report last;
  /// Hand-over breaths, and those that failed (the hand-over went on without them).
  uint64_t handovers = 0;
  uint64_t handover_failures = 0;
  /// Breaths that found a synced file that did not parse.
  uint64_t broken = 0;
};

/// Everything a node knows about itself: (status_atom) to its inspector; `shell status`,
/// `GET /status`.
struct node_status {
  std::string node;
  std::string version;
  uint64_t incarnation = 0;
  int64_t started_us = 0;
  /// When this status was taken (wall clock, us).
  int64_t now_us = 0;
  std::vector<link_status> links;
  std::vector<probe_status> peers;
  std::vector<duty_status> duties;
  breath_status breath;
  /// Since start: incoming connections the channel refused (beyond its limits, or their TLS
  /// handshake failed), links refused for an incompatible protocol version, and shell
  /// connections refused.
  uint64_t tls_refusals = 0;
  uint64_t version_refusals = 0;
  uint64_t shell_refusals = 0;
};

/// One node's status as gathered for `cluster`; `error` says why it is missing.
struct node_view {
  std::string node;
  bool reachable = false;
  std::string error;
  node_status status;
};

/// A live event for `watch`.
struct node_event {
  int64_t at_us = 0;
  std::string node;
  event_kind kind = event_kind::role;
  /// The duty or peer the event is about.
  std::string subject;
  std::string text;
};

/// One line of the node's log, for `log` and `log -f`.
struct log_line {
  int64_t at_us = 0;
  /// trace, debug, info, warning, error, critical.
  std::string level;
  std::string text;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping& x) {
  return f(caf::meta::type_name("ping"), x.from, x.seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pong& x) {
  return f(caf::meta::type_name("pong"), x.node, x.seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim& x) {
  return f(caf::meta::type_name("claim"), x.duty, x.from, x.term);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, released& x) {
  return f(caf::meta::type_name("released"), x.duty, x.from, x.term, x.highest);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refused& x) {
  return f(caf::meta::type_name("refused"), x.duty, x.from, x.term, x.highest);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stepped_down& x) {
  return f(caf::meta::type_name("stepped_down"), x.duty, x.from);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resumed& x) {
  return f(caf::meta::type_name("resumed"), x.duty, x.from);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, status_query& x) {
  return f(caf::meta::type_name("status_query"), x.from);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, probe_req& x) {
  return f(caf::meta::type_name("probe_req"), x.from, x.target);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, probe_ack& x) {
  return f(caf::meta::type_name("probe_ack"), x.node, x.target, x.alive);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay& x) {
  return f(caf::meta::type_name("relay"), x.to, x.origin, x.kind, x.duty, x.term, x.highest);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relayed& x) {
  return f(caf::meta::type_name("relayed"), x.via, x.origin, x.kind, x.duty, x.term, x.highest);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, duty_state& x) {
  return f(caf::meta::type_name("duty_state"), x.duty, x.from, x.role, x.term);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, network_changed& x) {
  return f(caf::meta::type_name("network_changed"), x.up, x.detail);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, probe_timing& x) {
  return f(caf::meta::type_name("probe_timing"), x.interval_ms, x.timeout_ms, x.retry_ms,
           x.unknown_grace_ms, x.checks, x.rise, x.fall);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, duty_update& x) {
  return f(caf::meta::type_name("duty_update"), x.command, x.env, x.stop_grace_ms, x.restart_min_ms,
           x.restart_max_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, action_result& x) {
  return f(caf::meta::type_name("action_result"), x.ok, x.text);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, state_field& x) {
  return f(caf::meta::type_name("state_field"), x.key, x.value);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_info& x) {
  return f(caf::meta::type_name("actor_info"), x.name, x.kind, x.id, x.handled, x.errors, x.state);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_report& x) {
  return f(caf::meta::type_name("health_report"), x.members, x.silent, x.failure);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, probe_sample& x) {
  return f(caf::meta::type_name("probe_sample"), x.at_us, x.ok, x.rtt_us, x.value, x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, probe_status& x) {
  return f(caf::meta::type_name("probe_status"), x.node, x.value, x.reason, x.linked, x.since_us,
           x.host_checked, x.host_answers, x.host_detail, x.rounds, x.failures, x.history);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_status& x) {
  return f(caf::meta::type_name("link_status"), x.node, x.linked, x.dialer, x.since_us, x.links,
           x.problem);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_status& x) {
  return f(caf::meta::type_name("process_status"), x.phase, x.pid, x.term, x.started_us, x.starts,
           x.restarts, x.last_exit, x.output);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chain_member& x) {
  return f(caf::meta::type_name("chain_member"), x.node, x.value, x.stepped_down);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, duty_status& x) {
  return f(caf::meta::type_name("duty_status"), x.duty, x.role, x.term, x.reason, x.role_since_us,
           x.stepped_down, x.leaving, x.chain, x.pending, x.takeovers, x.role_changes, x.process);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, breath_status& x) {
  return f(caf::meta::type_name("breath_status"), x.enabled, x.interval_ms, x.breaths, x.failures,
           x.conflicts, x.buckets, x.total_us, x.last_ok_us, x.last, x.handovers,
           x.handover_failures, x.broken);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("node_status"), x.node, x.version, x.incarnation, x.started_us,
           x.now_us, x.links, x.peers, x.duties, x.breath, x.tls_refusals, x.version_refusals,
           x.shell_refusals);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_view& x) {
  return f(caf::meta::type_name("node_view"), x.node, x.reachable, x.error, x.status);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_event& x) {
  return f(caf::meta::type_name("node_event"), x.at_us, x.node, x.kind, x.subject, x.text);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_line& x) {
  return f(caf::meta::type_name("log_line"), x.at_us, x.level, x.text);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_up& x) {
  return f(caf::meta::type_name("link_up"), x.node, x.gateway);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_opened& x) {
  return f(caf::meta::type_name("link_opened"), x.node, x.link, x.incarnation, x.version, x.dialed);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_closed& x) {
  return f(caf::meta::type_name("link_closed"), x.node, x.link, x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_failed& x) {
  return f(caf::meta::type_name("link_failed"), x.node, x.problem);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_down& x) {
  return f(caf::meta::type_name("link_down"), x.node, x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, verdict_changed& x) {
  return f(caf::meta::type_name("verdict_changed"), x.node, x.value, x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heard& x) {
  return f(caf::meta::type_name("heard"), x.node);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_report& x) {
  return f(caf::meta::type_name("check_report"), x.node, x.service, x.icmp, x.tcp22, x.tcp443,
           x.detail);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_duty& x) {
  return f(caf::meta::type_name("run_duty"), x.term);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stop_duty& x) {
  return f(caf::meta::type_name("stop_duty"), x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, duty_started& x) {
  return f(caf::meta::type_name("duty_started"), x.duty, x.term, x.pid);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, duty_exited& x) {
  return f(caf::meta::type_name("duty_exited"), x.duty, x.term, x.pid, x.exit_code, x.signal,
           x.requested);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, duty_failed& x) {
  return f(caf::meta::type_name("duty_failed"), x.duty, x.term, x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_started& x) {
  return f(caf::meta::type_name("child_started"), x.id, x.pid);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_exited& x) {
  return f(caf::meta::type_name("child_exited"), x.id, x.pid, x.exit_code, x.signal);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_output& x) {
  return f(caf::meta::type_name("child_output"), x.id, x.stream, x.line);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_failed& x) {
  return f(caf::meta::type_name("child_failed"), x.id, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exhale_result& x) {
  return f(caf::meta::type_name("exhale_result"), x.commit, x.conflicts, x.copies, x.broken,
           x.restored, x.files_read);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inhale_result& x) {
  return f(caf::meta::type_name("inhale_result"), x.replayed, x.conflicts, x.copies, x.updated,
           x.deferred, x.kept, x.broken);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, push_result& x) {
  return f(caf::meta::type_name("push_result"), x.pushed, x.commits);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, breath_report& x) {
  return f(caf::meta::type_name("breath_report"), x.seq, x.started_us, x.ok, x.failed_step, x.error,
           x.repaired, x.exhale_us, x.fetch_us, x.inhale_us, x.push_us, x.total_us, x.push_attempts,
           x.commits_in, x.commits_out, x.pending, x.conflicts, x.copies, x.conflicts_total,
           x.handover, x.broken, x.restored, x.files_read);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handover_breath& x) {
  return f(caf::meta::type_name("handover_breath"), x.duty, x.taking);
}

/// Registers the `montana` type-ID block with an actor system configuration.
void register_messages(caf::actor_system_config& cfg);

} // namespace montana

CAF_BEGIN_TYPE_ID_BLOCK(montana, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(montana, (montana::verdict))
CAF_ADD_TYPE_ID(montana, (montana::check_status))
CAF_ADD_TYPE_ID(montana, (montana::check_mode))
CAF_ADD_TYPE_ID(montana, (montana::duty_role))
CAF_ADD_TYPE_ID(montana, (montana::event_kind))
CAF_ADD_TYPE_ID(montana, (montana::sync_mode))
CAF_ADD_TYPE_ID(montana, (montana::ping))
CAF_ADD_TYPE_ID(montana, (montana::pong))
CAF_ADD_TYPE_ID(montana, (montana::claim))
CAF_ADD_TYPE_ID(montana, (montana::released))
CAF_ADD_TYPE_ID(montana, (montana::refused))
CAF_ADD_TYPE_ID(montana, (montana::link_up))
CAF_ADD_TYPE_ID(montana, (montana::link_down))
CAF_ADD_TYPE_ID(montana, (montana::link_opened))
CAF_ADD_TYPE_ID(montana, (montana::link_closed))
CAF_ADD_TYPE_ID(montana, (montana::link_failed))
CAF_ADD_TYPE_ID(montana, (montana::verdict_changed))
CAF_ADD_TYPE_ID(montana, (montana::heard))
CAF_ADD_TYPE_ID(montana, (montana::check_report))
CAF_ADD_TYPE_ID(montana, (montana::run_duty))
CAF_ADD_TYPE_ID(montana, (montana::stop_duty))
CAF_ADD_TYPE_ID(montana, (montana::duty_started))
CAF_ADD_TYPE_ID(montana, (montana::duty_exited))
CAF_ADD_TYPE_ID(montana, (montana::duty_failed))
CAF_ADD_TYPE_ID(montana, (montana::child_started))
CAF_ADD_TYPE_ID(montana, (montana::child_exited))
CAF_ADD_TYPE_ID(montana, (montana::child_output))
CAF_ADD_TYPE_ID(montana, (montana::child_failed))
CAF_ADD_TYPE_ID(montana, (montana::exhale_result))
CAF_ADD_TYPE_ID(montana, (montana::inhale_result))
CAF_ADD_TYPE_ID(montana, (montana::push_result))
CAF_ADD_TYPE_ID(montana, (montana::breath_report))
CAF_ADD_TYPE_ID(montana, (montana::handover_breath))
CAF_ADD_TYPE_ID(montana, (std::vector<montana::breath_report>))
CAF_ADD_TYPE_ID(montana, (montana::stepped_down))
CAF_ADD_TYPE_ID(montana, (montana::resumed))
CAF_ADD_TYPE_ID(montana, (montana::status_query))
CAF_ADD_TYPE_ID(montana, (montana::action_result))
CAF_ADD_TYPE_ID(montana, (montana::state_field))
CAF_ADD_TYPE_ID(montana, (montana::actor_info))
CAF_ADD_TYPE_ID(montana, (std::vector<montana::actor_info>))
CAF_ADD_TYPE_ID(montana, (montana::probe_sample))
CAF_ADD_TYPE_ID(montana, (montana::probe_status))
CAF_ADD_TYPE_ID(montana, (std::vector<montana::probe_status>))
CAF_ADD_TYPE_ID(montana, (montana::link_status))
CAF_ADD_TYPE_ID(montana, (std::vector<montana::link_status>))
CAF_ADD_TYPE_ID(montana, (montana::process_status))
CAF_ADD_TYPE_ID(montana, (montana::chain_member))
CAF_ADD_TYPE_ID(montana, (montana::duty_status))
CAF_ADD_TYPE_ID(montana, (montana::breath_status))
CAF_ADD_TYPE_ID(montana, (montana::node_status))
CAF_ADD_TYPE_ID(montana, (montana::node_view))
CAF_ADD_TYPE_ID(montana, (std::vector<montana::node_view>))
CAF_ADD_TYPE_ID(montana, (montana::node_event))
CAF_ADD_TYPE_ID(montana, (montana::log_line))
CAF_ADD_TYPE_ID(montana, (std::vector<montana::log_line>))
CAF_ADD_TYPE_ID(montana, (montana::probe_timing))
CAF_ADD_TYPE_ID(montana, (montana::duty_update))
CAF_ADD_TYPE_ID(montana, (montana::health_report))
CAF_ADD_TYPE_ID(montana, (montana::probe_req))
CAF_ADD_TYPE_ID(montana, (montana::probe_ack))
CAF_ADD_TYPE_ID(montana, (montana::duty_state))
CAF_ADD_TYPE_ID(montana, (montana::network_changed))
CAF_ADD_TYPE_ID(montana, (montana::relay_kind))
CAF_ADD_TYPE_ID(montana, (montana::relay))
CAF_ADD_TYPE_ID(montana, (montana::relayed))
CAF_END_TYPE_ID_BLOCK(montana)

namespace montana {

// Atoms (at most 10 characters, suffix `_atom`).
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using route_atom = caf::atom_constant<caf::atom("route")>;
using network_atom = caf::atom_constant<caf::atom("network")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using breathe_atom = caf::atom_constant<caf::atom("breathe")>;
using history_atom = caf::atom_constant<caf::atom("history")>;
using prepare_atom = caf::atom_constant<caf::atom("prepare")>;
using exhale_atom = caf::atom_constant<caf::atom("exhale")>;
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
using inhale_atom = caf::atom_constant<caf::atom("inhale")>;
using push_atom = caf::atom_constant<caf::atom("push")>;
using ahead_atom = caf::atom_constant<caf::atom("ahead")>;
// Introspection and the operator's console.
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using cluster_atom = caf::atom_constant<caf::atom("cluster")>;
using probes_atom = caf::atom_constant<caf::atom("probes")>;
using actors_atom = caf::atom_constant<caf::atom("actors")>;
using console_atom = caf::atom_constant<caf::atom("console")>;
using log_atom = caf::atom_constant<caf::atom("log")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using unwatch_atom = caf::atom_constant<caf::atom("unwatch")>;
using step_down_atom = caf::atom_constant<caf::atom("stepdown")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
// Supervision.
using health_atom = caf::atom_constant<caf::atom("health")>;

} // namespace montana
