// The shell's end of a node's shell socket (runtime/shell_endpoint.hpp): a Unix socket, one JSON
// document per line each way. The node names itself and the operator first; then the shell asks
// and the node's console answers (actors/console.hpp has the requests).
#pragma once

#include "messages/status_json.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>

namespace montana {

/// Why the shell could not connect or a command failed: one line for the operator.
class shell_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class shell_connection {
public:
  /// Connects to the socket at `path`; throws shell_error naming the path and the problem (no
  /// such socket: the node is not running; permission denied: not in the service's group).
  explicit shell_connection(const std::string& path,
                            std::chrono::milliseconds timeout = std::chrono::seconds{5});
  ~shell_connection();

  shell_connection(const shell_connection&) = delete;
  shell_connection& operator=(const shell_connection&) = delete;

  /// The node connected to, and who the node says we are.
  const std::string& node() const { return node_; }
  const std::string& operator_name() const { return operator_; }

  /// Sends `request` (its "ask" and arguments) and returns the answer's value; throws
  /// shell_error with the console's error, a timeout, or a lost connection.
  json ask(std::chrono::milliseconds timeout, json request);

  /// ask(), the answer read as a T.
  template <class T>
  T ask_as(std::chrono::milliseconds timeout, json request) {
    auto answer = ask(timeout, std::move(request));
    try {
      return answer.get<T>();
    } catch (const std::exception& e) {
      throw shell_error("node " + node_ +
                        " answered something this shell cannot read: " + e.what());
    }
  }

  /// Streams events and/or log lines to the callbacks until `stop` is set, `duration` passed
  /// (zero: no limit) or the node goes away (shell_error).
  void stream(bool events, bool log, std::chrono::milliseconds duration,
              const std::atomic<bool>& stop, const std::function<void(const node_event&)>& on_event,
              const std::function<void(const log_line&)>& on_log);

private:
  /// The next line within `timeout`; empty optional on timeout; throws when the node is gone.
  std::optional<json> next(std::chrono::milliseconds timeout);
  void send(const json& request);

  std::string path_;
  int fd_ = -1;
  std::string buffer_;
  uint64_t next_id_ = 1;
  std::string node_;
  std::string operator_;
};

} // namespace montana
