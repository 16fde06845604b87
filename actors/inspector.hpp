// inspector: the node-level actor that knows every other actor of the node. It gathers their
// answers into one node_status (the shell's `status`, `GET /status`), asks linked nodes for
// theirs (`cluster`), lists every actor's actor_info (`actors`), turns their events into the
// live feed of `watch`, and opens a console for every operator the gateway let in.
#pragma once

#include "actors/log_feed.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace montana {

struct inspector_params {
  std::string self;
  std::string version;
  uint64_t incarnation = 0;
  /// Every node of the cluster in priority order (`cluster` answers in this order).
  std::vector<std::string> nodes;
  /// Fills in the counters kept outside the actors (the channel's refusals, the shell socket's);
  /// may be empty.
  std::function<void(node_status&)> counts;
  /// This node's log, for the consoles; may be null.
  log_feed_ptr log;
};

/// Spawns the inspector. Actors join it with (register_atom, role, actor), role one of "peer",
/// "probe", "leader", "supervisor", "breather" or any other name (listed by `actors` only); it
/// monitors them and subscribes to the events of peer, probes, leaders and the breather.
///   (status_atom) -> node_status          (probes_atom) -> std::vector<probe_status>
///   (cluster_atom) -> std::vector<node_view>, every node in cluster order
///   (actors_atom) -> std::vector<actor_info>, itself included
///   (watch_atom, actor) / (unwatch_atom, actor): node_event to `actor` for every event
///   (console_atom, operator, console_sink) -> actor: a console writing to that sink
caf::actor spawn_inspector(caf::actor_system& sys, inspector_params params);

} // namespace montana
