// chain-leader: one per duty; folds the probes' verdicts in chain order through the
// chain rule and drives the duty's bot-supervisor.
#pragma once

#include "actors/chain_rule.hpp"
#include "actors/launcher.hpp"
#include "actors/settings.hpp"

#include <map>
#include <string>

namespace montana {

struct leader_params {
  std::string self;
  duty_settings duty;
  /// Pace of the leader's tick (startup delay, resending claims).
  duration tick{100};
  caf::actor peer_actor;
  /// Probe of every other node of the duty's chain.
  std::map<std::string, caf::actor> probes;
  launcher_ptr launcher;
};

/// Spawns the leader of `params.duty`, which spawns (and is linked to) its bot-supervisor.
/// (stop_atom) makes it leave the chain: it stops the duty process (SIGTERM, grace,
/// SIGKILL), never claims again, and answers once no process is left.
caf::actor spawn_chain_leader(caf::actor_system& sys, leader_params params);

} // namespace montana
