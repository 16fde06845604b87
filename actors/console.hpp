// console: one per operator shell connected to this node's shell socket. It serves the shell's
// requests from the inspector, the leaders and the breather, runs the operator's actions, and
// streams events and log lines while the shell watches. Requests and answers are JSON lines
// (the documents of messages/status_json.hpp):
//
//   {"id": 7, "ask": "status"}                 -> {"re": 7, "ok": node_status}
//   {"id": 8, "ask": "log", "n": 20}           -> {"re": 8, "ok": [log_line, ...]}
//   {"id": 9, "ask": "watch", "events": true, "log": false}
//                                              -> {"re": 9, "ok": null}, then {"event": node_event}
//                                                 and {"log": log_line} lines until "unwatch"
//   a request that fails                       -> {"re": N, "error": "one line"}
//
// asks: status, cluster, probes, actors, history, log, watch, unwatch, step-down, resume,
// restart (each action with "duty": "" for every duty), breathe. The console ends when the
// shell's connection does (the endpoint tells it to exit).
#pragma once

#include "actors/log_feed.hpp"

#include <functional>
#include <map>
#include <string>

namespace montana {

/// Where a console writes its lines (one JSON document each, no newline): the shell's socket.
/// Called from the console's thread; it must not block.
struct console_sink {
  std::function<void(std::string)> write;
};

/// One line the shell sent.
struct shell_request {
  std::string line;
};

struct console_params {
  std::string self;
  /// Who uses the shell, as the socket's peer credentials say ("alice (uid 1000)").
  std::string operator_name;
  console_sink sink;
  caf::actor inspector;
  /// duty -> chain-leader, for this node's duties.
  std::map<std::string, caf::actor> leaders;
  /// Null without a breather.
  caf::actor breather;
  log_feed_ptr log;
};

/// Spawns a console; it takes shell_request, node_event and log_line (while watching),
/// inspect_atom, and stop_atom when the shell is gone (it then ends normally).
caf::actor spawn_console(caf::actor_system& sys, console_params params);

} // namespace montana

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(montana::console_sink)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(montana::shell_request)
