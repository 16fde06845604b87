// The operator shell's way into a node: a Unix socket (`[shell] socket`) on the node's I/O
// thread. File permissions decide who may connect (the service's user and group; operators
// reach a host over SSH, as with systemctl). Each connection gets a console actor
// (actors/console.*) named after the peer's credentials; lines go in as shell_request, the
// console's lines come back. Nothing of it is reachable from the network.
//
//   shell                                        node
//   connect(path) ------------------------------>  SO_PEERCRED: uid -> "alice (uid 1000)"
//   <-- {"node": "...", "operator": "...", "version": "..."}
//   {"id": 1, "ask": "status"} ----------------->  console
//   <-------------------------------------------- {"re": 1, "ok": {...}}
#pragma once

#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace montana {

struct shell_endpoint_params {
  std::string self;
  /// The socket's path (`{node}` already expanded).
  std::string path;
  /// Opens the consoles: (console_atom, operator, console_sink) -> actor.
  caf::actor inspector;
  std::string version;
  /// Counts the shell connections refused (too many at once).
  std::shared_ptr<std::atomic<uint64_t>> refused;
};

/// Limits of the endpoint.
struct shell_limits {
  /// Shells connected at once; more are refused.
  static constexpr size_t max_shells = 16;
  /// Longest request line.
  static constexpr size_t max_line = 64 * 1024;
};

class shell_endpoint {
public:
  /// Creates the socket (mode 0660; its directory is created with mode 0750 when missing) and
  /// serves it. A socket file left by a process that is gone is replaced; one a live process
  /// serves is an error. Throws std::runtime_error with one line naming the path.
  shell_endpoint(boost::asio::io_context& io, caf::actor_system& sys, shell_endpoint_params params);
  /// Removes the socket file.
  ~shell_endpoint();

  shell_endpoint(const shell_endpoint&) = delete;
  shell_endpoint& operator=(const shell_endpoint&) = delete;

  /// Stops accepting and closes every shell (their consoles end).
  void stop();

  struct core;

private:
  std::shared_ptr<core> core_;
};

} // namespace montana
