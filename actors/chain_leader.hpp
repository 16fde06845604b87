// chain-leader: one per duty; folds the probes' verdicts in chain order through the
// chain rule and drives the duty's bot-supervisor.
#pragma once

#include "actors/chain_rule.hpp"
#include "actors/launcher.hpp"
#include "actors/settings.hpp"

#include <functional>
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
  /// Learns of the bot-supervisor (register_atom); may be null.
  caf::actor inspector;
  /// Supervises the bot-supervisor (register_atom); may be null.
  caf::actor guardian;
  /// An operator stepped this node down before it (re)started: it stays out until resume.
  bool stepped_down = false;
  /// Keeps an operator's step-down (true) or resume (false) across restarts; may be empty.
  std::function<void(bool)> remember;
};

/// How long a leaving holder waits for the next node's claim before it stops the duty anyway:
/// the next node may have just started and still be in its startup delay.
duration handover_wait(const duty_settings& duty);

/// How long the leader waits for its supervisor to confirm a stop, per attempt: the supervisor
/// SIGKILLs the process group after stop_grace, so a child not gone 5 s later is stuck (in the
/// kernel, say) and the leader asks again.
duration stop_bound(const duty_settings& duty);

/// Attempts at a stop before the leader gives up and quits: its supervisor SIGKILLs the group
/// again on its way out, and the node fails fast (docs/architecture.md, "Supervision").
constexpr int stop_attempts = 3;

/// Spawns the leader of `params.duty`, which spawns (and is linked to) its bot-supervisor.
///   (stop_atom): leave the chain for good (a holder hands the duty over, see chain_rule::leave)
///                and answer once no process is left;
///   (step_down_atom) -> action_result once the duty left this node; (resume_atom) ->
///   action_result; (restart_atom) -> action_result: restart the duty's process here (holder only);
///   (status_atom) -> duty_status; (inspect_atom) -> actor_info;
///   (subscribe_atom, actor): node_event for every role change and process event;
///   duty_update: new process settings (a reload), passed on to the supervisor.
caf::actor spawn_chain_leader(caf::actor_system& sys, leader_params params);

} // namespace montana
