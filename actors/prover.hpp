// How a gateway proves its node's identity and checks a peer's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

namespace montana {

/// Signatures with this node's key, checks against the registry's keys. Over TLS the
/// certificate only shows that a peer is *some* registered node; the signed nonces of the
/// hello handshake show *which* one. runtime/trust.* has the real one.
class prover {
public:
  virtual ~prover() = default;
  /// This node's signature over `data` (hex).
  virtual std::string sign(const std::string& data) = 0;
  /// True iff `signature` over `data` was made with `node`'s registered key.
  virtual bool verify(const std::string& node, const std::string& data,
                      const std::string& signature) = 0;
  /// True iff `name` is a registered operator of the shell.
  virtual bool is_operator(const std::string& name) = 0;
  /// True iff `signature` over `data` was made with operator `name`'s registered key.
  virtual bool verify_operator(const std::string& name, const std::string& data,
                               const std::string& signature) = 0;
  /// Picks up rotated certificates and registry changes (blocking file I/O: never call it
  /// on a scheduler thread).
  virtual void refresh() = 0;
};

using prover_ptr = std::shared_ptr<prover>;

/// Calls `p->refresh()` every `period` on a thread of its own, from construction until
/// destruction (which waits for a refresh in progress).
///
/// Not a detached actor: in CAF 0.17 a detached actor that keeps sending itself delayed messages
/// can, if it is told to exit at the wrong moment, stay referenced forever, and ~actor_system
/// then waits for its thread forever (CAF issue #1196, fixed in 0.18).
class refresher {
public:
  refresher(prover_ptr p, std::chrono::milliseconds period);

private:
  std::mutex mutex_;
  std::condition_variable_any wake_;
  // Last: it runs as soon as it is constructed and uses the members above.
  std::jthread thread_;
};

} // namespace montana
