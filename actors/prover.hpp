// How a gateway proves its node's identity and checks a peer's.
#pragma once

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
};

using prover_ptr = std::shared_ptr<prover>;

} // namespace montana
