// The seam between the peer actor and the 19333 channel. The channel owns the sockets, TLS and
// framing on an I/O thread of its own (runtime/channel.*); the peer actor owns what the links
// mean. The channel tells the peer actor, in order per link: link_opened, then one `inbound` per
// frame, then link_closed; and link_failed for each failed attempt to reach a lower node.
#pragma once

#include "messages/wire.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace montana {

/// One frame that arrived over the link `link` of `node` (the node its certificate proved).
/// Node-local only: never serialized.
struct inbound {
  std::string node;
  uint64_t link = 0;
  wire::frame frame;
};

class channel {
public:
  virtual ~channel() = default;
  /// Queues `f` on `link`; dropped when the link is gone. Callable from any thread.
  virtual void send(uint64_t link, wire::frame f) = 0;
  /// Closes `link`; its link_closed follows. Callable from any thread.
  virtual void close(uint64_t link, std::string reason) = 0;
};

using channel_ptr = std::shared_ptr<channel>;

} // namespace montana

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(montana::inbound)
