// The shell's end of the operator channel: a CAF actor system of its own that dials one node over
// TLS 1.3 with the operator's certificate, proves the operator's identity to the node's gateway,
// checks the node's own proof, and then talks to the console the node opened for it.
//
//   shell                                              node's gateway
//   TCP precheck, TLS 1.3 (operator cert / node cert, each checked against pinned bundles)
//   operator_hello(name, nonce S) --------------------------------------------------->
//   <------------------------------------- welcome(node, nonce N, sig_node(text S))
//   check sig_node with the registry's key of that node
//   operator_proof(name, sig_operator(text N)) --------------------------------------->
//   <------------------------------------------------ console (an actor of that node)
#pragma once

#include "runtime/config.hpp"
#include "runtime/private_dir.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace montana {

/// Why the shell could not connect or a command failed: one line for the operator.
class shell_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Where the shell connects and as whom.
struct shell_target {
  std::string host;
  uint16_t port = 0;
  /// The node expected there (from --node); empty: whichever node it proves to be.
  std::string node;
  /// The operator's key; its certificate is `cert_path`.
  std::string key_path;
  std::string cert_path;
};

class shell_connection {
public:
  /// Connects and runs the handshake; throws shell_error (unreachable, TLS refused, proof
  /// refused, the node is not the expected one), identity_error / registry_error (a bad local
  /// file) or std::runtime_error (no private directory for the cafile). Timeouts:
  /// `connect_timeout` for the TCP precheck and each handshake step.
  shell_connection(const config& cfg, const shell_target& target,
                   std::chrono::milliseconds connect_timeout = std::chrono::seconds{5});

  shell_connection(const shell_connection&) = delete;
  shell_connection& operator=(const shell_connection&) = delete;

  /// The node connected to, as it proved itself.
  const std::string& node() const { return node_; }
  const std::string& operator_name() const { return operator_; }

  /// Sends `xs...` to the console and returns its one reply of type T (void: an empty reply);
  /// throws shell_error with the console's error, or a timeout.
  template <class T, class... Ts>
  T ask(std::chrono::milliseconds timeout, Ts&&... xs) {
    std::string problem;
    auto failed = [&](caf::error& err) { problem = describe(err); };
    auto request = self_->ptr()->request(console_, timeout, std::forward<Ts>(xs)...);
    if constexpr (std::is_void_v<T>) {
      bool done = false;
      request.receive([&] { done = true; }, failed);
      if (!done)
        throw shell_error(problem);
    } else {
      std::optional<T> answer;
      request.receive([&](T& x) { answer = std::move(x); }, failed);
      if (!answer)
        throw shell_error(problem);
      return std::move(*answer);
    }
  }

  /// Streams events and/or log lines to the callbacks until `stop` is set, `duration` passed
  /// (zero: no limit) or the node goes away (shell_error).
  void stream(bool events, bool log, std::chrono::milliseconds duration,
              const std::atomic<bool>& stop, const std::function<void(const node_event&)>& on_event,
              const std::function<void(const log_line&)>& on_log);

private:
  /// The console's error as one line: its own text when it gave one.
  std::string describe(const caf::error& err) const;

  /// First: the members after it go before it, also when the constructor throws.
  std::optional<private_dir> private_dir_;
  std::unique_ptr<caf::actor_system_config> sys_cfg_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<caf::scoped_actor> self_;
  caf::actor console_;
  std::string node_;
  std::string operator_;
};

} // namespace montana
