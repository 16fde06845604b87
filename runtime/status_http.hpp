// The optional HTTP endpoint of a node (`[status] listen`), served with Boost.Beast on the node's
// I/O thread. GET /metrics answers the Prometheus text format, GET /status the node_status as
// JSON (the same document as `shell status --json`). One request per connection; bounded head
// size, connections and time per connection; anything else gets a 4xx.
#pragma once

#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace montana {

struct status_http_params {
  std::string self;
  std::string host;
  uint16_t port = 0;
  /// Answers (status_atom) with node_status.
  caf::actor inspector;
};

/// Limits of the endpoint.
struct status_http_limits {
  /// Largest request head (request line and headers); larger ones get 431.
  static constexpr size_t max_head = 8192;
  /// Connections served at once; more are answered 503 and closed.
  static constexpr size_t max_connections = 16;
  /// A connection that has not sent a whole request by then gets 408.
  static constexpr std::chrono::seconds request_timeout{5};
};

class status_http {
public:
  /// Listens on host:port (address reuse on); throws std::runtime_error with one line when it
  /// cannot.
  status_http(boost::asio::io_context& io, caf::actor_system& sys, status_http_params params);
  ~status_http();

  status_http(const status_http&) = delete;
  status_http& operator=(const status_http&) = delete;

  /// Stops accepting; connections being served finish on their own.
  void stop();

  struct core;

private:
  std::shared_ptr<core> core_;
};

} // namespace montana
