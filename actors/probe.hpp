// probe: one per peer; turns checks of that peer into a verdict (alive / suspect / dead).
#pragma once

#include "actors/checker.hpp"
#include "actors/settings.hpp"

#include <string>

namespace montana {

/// What a probe needs to know; `peer_actor` is this node's peer actor (link events).
/// The probe runs `checks` on a checker worker of its own.
struct probe_params {
  std::string self;
  node_entry peer;
  probe_settings settings;
  caf::actor peer_actor;
  /// A peer never seen since this probe started is not judged dead before this
  /// much time: long enough for the dialing side to reach us (its reconnect
  /// backoff plus one connection attempt).
  duration unknown_grace{0};
  net_checks_ptr checks;
  /// The checks block, so the checker gets its own thread; false only for deterministic tests
  /// whose fake checks return at once and must run on the test scheduler.
  bool detached_checks = true;
};

/// Spawns the probe of `params.peer`. Subscribers (`subscribe_atom`) receive every
/// verdict_changed, starting with the current one; `heard` revives the peer at once;
/// (status_atom) -> probe_status with the last rounds; (inspect_atom) -> actor_info;
/// probe_timing: new settings from the next round on.
caf::actor spawn_probe(caf::actor_system& sys, probe_params params);

} // namespace montana
