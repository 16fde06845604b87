// peer: owns this node's end of the 19333 channel; it is the node's gateway.
//
// Each pair of nodes has exactly one link, dialed by the higher-priority node
// (CAF 0.17 TLS links break when both sides dial). A link is usable only after
// the handshake:
//
//   dialer                                   acceptor
//   idle --precheck ok--> connecting --connected--> hello(node, gateway, nonce D) -->
//        <--backoff-- (any failure)          <-- welcome(node, nonce A, sig_A(nonce D))
//   verify sig_A against the registry key of the node we dialed
//                                            proof(node, sig_D(nonce A)) -->
//                                            verify sig_D, link <-- (empty reply)
//   linked (monitor) --down_msg--> idle (backoff from reconnect_min)
//
// Over TLS the certificates only show that both ends are registered nodes; the
// signed nonces show which ones (the keys are the certificates' keys). On the
// plain transport (no prover) the handshake stops at welcome and proves nothing.
//
// The reachability precheck runs on a checker's thread: a silently dropped
// address would otherwise block CAF's middleman for minutes. Messages from other
// nodes arrive here and are routed: ping is answered, claim/released/refused go
// to the duty's chain-leader after checking they came over the sender's own link.
#pragma once

#include "actors/checker.hpp"
#include "actors/prover.hpp"
#include "actors/settings.hpp"

#include <string>
#include <vector>

namespace montana {

struct peer_params {
  std::string self;
  /// The whole cluster in priority order.
  std::vector<node_entry> nodes;
  channel_settings channel;
  /// Bound on each step of a connection attempt.
  duration connect_timeout{1000};
  /// Each dialed peer gets its own checker worker on these checks, so a silent
  /// address delays nothing but its own link.
  net_checks_ptr checks;
  /// Random per start; lets peers tell a restart from a reconnect.
  uint64_t incarnation = 0;
  /// Connects to other nodes: CAF's middleman actor (plain) or the openssl manager's (TLS).
  caf::actor connector;
  /// Signs and checks the hello handshake; null on the plain transport (no proof, no shell).
  prover_ptr prover;
  /// The node's inspector: answers status queries of linked nodes, opens operator consoles.
  caf::actor inspector;
};

/// Spawns the peer actor. Publishing it on host:port is up to the caller.
/// Local protocol: (subscribe_atom, actor) for link_up/link_down events (current
/// links are replayed); (route_atom, duty, leader) to receive that duty's messages;
/// (status_atom) -> (std::vector<link_status> one per other node, uint64_t shells refused);
/// (inspect_atom) -> actor_info.
/// An operator's shell proves its identity like a dialing node (operator_hello, operator_proof)
/// and gets a console from the inspector.
caf::actor spawn_peer(caf::actor_system& sys, peer_params params);

} // namespace montana
