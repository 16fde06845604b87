// probe: one per peer; turns checks of that peer into a verdict (alive / suspect / dead).
#pragma once

#include "actors/settings.hpp"

#include <string>

namespace montana {

/// What a probe needs to know; `peer_actor` is this node's peer actor (link events),
/// `checker` a worker from spawn_checker that the probe links to (it dies with the probe).
struct probe_params {
  std::string self;
  node_entry peer;
  probe_settings settings;
  caf::actor peer_actor;
  caf::actor checker;
};

/// Spawns the probe of `params.peer`. Subscribers (`subscribe_atom`) receive every
/// verdict_changed, starting with the current one; `heard` revives the peer at once.
caf::actor spawn_probe(caf::actor_system& sys, probe_params params);

} // namespace montana
