// How a gateway proves its node's identity and checks a peer's.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <memory>
#include <string>

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
  /// Picks up rotated certificates and registry changes (blocking file I/O: never call it
  /// on a scheduler thread).
  virtual void refresh() = 0;
};

using prover_ptr = std::shared_ptr<prover>;

/// Calls `p->refresh()` every `period` on a thread of its own (a detached actor).
caf::actor spawn_refresher(caf::actor_system& sys, prover_ptr p, std::chrono::milliseconds period);

} // namespace montana
