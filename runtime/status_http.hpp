// status-http: the optional HTTP endpoint of a node (`[status] listen`), a CAF broker on the
// middleman's I/O thread. GET /metrics answers the Prometheus text format, GET /status the
// node_status as JSON (the same document as `shell status --json`). One request per connection;
// bounded head size, connections and time per connection; anything else gets a 4xx.
#pragma once

#include <caf/all.hpp>

#include <cstdint>
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
  /// A connection that has not sent a whole head by then gets 408.
  static constexpr std::chrono::seconds request_timeout{5};
};

/// Listens on host:port (address reuse on) and serves until it is told to exit; throws
/// std::runtime_error with one line when it cannot listen.
caf::actor spawn_status_http(caf::actor_system& sys, status_http_params params);

} // namespace montana
