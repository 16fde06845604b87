// console: one per operator shell connected to this node. It serves the shell's commands from
// the inspector, the leaders and the breather, runs the operator's actions, and streams events
// and log lines while the shell watches. Only the shell's own CAF node may talk to it; it ends
// when the shell goes away.
#pragma once

#include "actors/log_feed.hpp"

#include <map>
#include <string>

namespace montana {

struct console_params {
  std::string self;
  /// The operator's registered name, proven by the gateway's handshake.
  std::string operator_name;
  /// The shell's actor that proved it: its node is the only one this console answers.
  caf::actor shell;
  caf::actor inspector;
  /// duty -> chain-leader, for this node's duties.
  std::map<std::string, caf::actor> leaders;
  /// Null without a breather.
  caf::actor breather;
  log_feed_ptr log;
};

/// Spawns a console. Requests (from the shell's node only):
///   (status_atom) -> node_status   (cluster_atom) -> std::vector<node_view>
///   (probes_atom) -> std::vector<probe_status>   (actors_atom) -> std::vector<actor_info>
///   (history_atom) -> std::vector<breath_report>  (log_atom, uint32_t n) -> std::vector<log_line>
///   (watch_atom, bool events, bool log): stream node_event / log_line to the sender; unit
///   (unwatch_atom): stop streaming; unit
///   (step_down_atom | resume_atom | restart_atom, duty) -> action_result; "" means every duty
///   (breathe_atom) -> breath_report
caf::actor spawn_console(caf::actor_system& sys, console_params params);

} // namespace montana
