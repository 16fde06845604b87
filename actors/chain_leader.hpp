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
  /// The node's breather, asked for a hand-over breath before the duty starts here and after
  /// its process is gone, before `released` goes out; null without [breath].
  caf::actor breather;
  /// The breath's own bound ([breath] handover_timeout): the leader waits twice as long plus a
  /// minute (a local step cannot be cut short) and then goes on.
  duration handover_timeout{10000};
};

/// How long a leaving holder waits for the next node's claim before it stops the duty anyway:
/// the next node may have just started and still be in its startup delay.
duration handover_wait(const duty_settings& duty);

/// How long a leader waits for a hand-over breath before it goes on without it.
duration handover_breath_bound(duration handover_timeout);
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
