// link: this node's local stand-in for another node while the channel has a link to it. It takes
// the messages a node sends to another (ping, probe_req, status_query as requests; claim,
// released, refused, stepped_down, resumed, duty_state, relay), puts them on the link as frames and
// answers the requests when the other node's answer arrives. The peer actor spawns one per link and
// hands it out in `link_up`; it ends with the link, and requests still waiting then fail at once.
#pragma once

#include "actors/channel.hpp"

#include <string>

namespace montana {

struct link_params {
  std::string self;
  /// The node at the other end, as its certificate proved.
  std::string node;
  uint64_t link = 0;
  channel_ptr channel;
};

/// Spawns a link actor. Besides the messages above it takes, from the peer actor, the `inbound`
/// frames that answer its requests (`re` set), and stop_atom when the link is gone.
caf::actor spawn_link(caf::actor_system& sys, link_params params);

/// Requests waiting for an answer, per link; past this the oldest fails.
inline constexpr size_t max_pending_requests = 256;

} // namespace montana
