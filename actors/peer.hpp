// peer: what this node's links to the other nodes mean. The channel (actors/channel.hpp) owns
// the sockets: it dials the lower nodes, accepts the higher ones, authenticates both ends by
// their pinned certificates and exchanges the `hello` frames (the protocol version, the node
// and its incarnation). The peer actor turns what the channel reports into the node's view:
//
//   link_opened --> a link actor for that node (actors/link.*), link_up{node, link} to every
//                   subscriber (probes, leaders, inspector)
//   inbound     --> ping: answered with pong; probe_req{target}: answered with probe_ack
//                   (alive iff this node has a link to target now); claim/released/refused/
//                   stepped_down/resumed/duty_state: to the duty's leader; relay{to}: passed on
//                   to `to` as relayed when linked to it; relayed: to the duty's leader as a
//                   claim/released/refused of its origin (unless the origin is linked to us
//                   itself); status_query: answered
//                   with the inspector's node_status; pong/probe_ack/status/error: to the link
//                   actor whose request they answer
//   link_closed --> the link actor ends (its waiting requests fail), link_down
//
// The peer actor asks `network_problem` every `network_poll`: a host whose every interface lost
// its carrier is cut off (isolated), not the last node alive, and every subscriber learns it
// (network_changed{false}) — before the other nodes can judge it dead, as their links need
// connection_timeout. The network is back (network_changed{true}) when an interface has a
// carrier again or a link opens, which is told before that link_up.
//
// Every inbound frame was sent by the node whose certificate authenticated its link: the wire
// carries no sender name, so a node can only ever speak for itself. Nothing from the network
// reaches any other actor of the node.
#pragma once

#include "actors/channel.hpp"
#include "actors/settings.hpp"

#include <functional>
#include <string>
#include <vector>

namespace montana {

struct peer_params {
  std::string self;
  /// The whole cluster in priority order.
  std::vector<node_entry> nodes;
  channel_ptr channel;
  /// Random per start; lets peers tell a restart from a reconnect.
  uint64_t incarnation = 0;
  /// Answers the status queries of linked nodes (the shell's `cluster`).
  caf::actor inspector;
  /// Why this host's network is down (every interface but loopback without a carrier); empty
  /// while it is up. Asked every `network_poll`; none: never asked.
  std::function<std::string()> network_problem;
  duration network_poll{500};
};

/// Spawns the peer actor; the caller then starts the channel with it as the sink of its events.
/// Local protocol: (subscribe_atom, actor) for link_up/link_down and network_changed events
/// (current links, and a network that is down, are replayed); (route_atom, duty, leader) to receive
/// that duty's messages; (status_atom) -> std::vector<link_status>, one per other node;
/// (inspect_atom) -> actor_info; ping -> pong (the service's own health check); probe_req ->
/// probe_ack (this node's own view).
caf::actor spawn_peer(caf::actor_system& sys, peer_params params);

} // namespace montana
