// The 19333 channel: TLS 1.3 links between the nodes, run on the node's I/O thread with
// Boost.Asio and OpenSSL. It owns sockets, TLS, framing (messages/wire.hpp), deadlines and the
// limits on unauthenticated connections; the peer actor (actors/peer.*) owns what links mean.
//
// One coroutine per connection; every step until the link is open runs under one deadline
// (`handshake_timeout`):
//
//   dialer (this node ranks higher)                 acceptor (this node ranks lower)
//   resolve; connect from our own address           accept; closed at once beyond the caps
//   TLS 1.3, our certificate, and the peer's:       TLS 1.3, our certificate, and the peer's:
//     its key must be the one the registry pins       its key must be one the registry pins
//     for the node dialed                             for a node of the cluster
//   hello ------------------------------------------------------------------> hello (both at once)
//   check: same major version; the hello names the certificate's node; the dialer ranks higher
//   open: link_opened to the peer actor; frames both ways; a heartbeat whenever nothing went out
//   for heartbeat_interval
//   closed (an error, nothing heard for connection_timeout, garbage, close(), or a newer link
//   of the same node): link_closed; the dialer dials again after reconnect_min, and after a
//   failure backs off (doubling up to reconnect_max), reporting each failure as link_failed.
//
// A connection costs no CPU while it waits, and at most `max_handshakes` (and
// `max_handshakes_per_host` per remote address) may be unauthenticated at once.
#pragma once

#include "actors/channel.hpp"
#include "actors/settings.hpp"
#include "runtime/trust.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace montana {

struct channel_params {
  std::string self;
  /// The whole cluster in priority order; this node's entry says where it listens.
  std::vector<node_entry> nodes;
  channel_settings settings;
  std::shared_ptr<trust> identities;
  uint64_t incarnation = 0;
};

class tls_channel final : public channel {
public:
  /// Binds the listener (with address reuse); throws std::runtime_error naming the address
  /// when it cannot. Nothing is accepted or dialed before start().
  tls_channel(boost::asio::io_context& io, channel_params params);
  ~tls_channel() override;

  tls_channel(const tls_channel&) = delete;
  tls_channel& operator=(const tls_channel&) = delete;

  /// Starts accepting and dialing; the events go to `sink` (the peer actor). When `sink` exits,
  /// the channel stops as if by stop(): a node whose peer actor is gone has no links.
  void start(caf::actor sink);
  /// Stops accepting and dialing and closes every connection; no event reaches the sink after
  /// it returns. Must not be called on the I/O thread.
  void stop();

  void send(uint64_t link, wire::frame f) override;
  void close(uint64_t link, std::string reason) override;

  /// Incoming connections refused since start: beyond the caps, or their TLS handshake failed.
  uint64_t refusals() const;
  /// Links refused since start because the other end speaks an incompatible protocol version.
  uint64_t version_refusals() const;

  struct core;

private:
  std::shared_ptr<core> core_;
};

} // namespace montana
