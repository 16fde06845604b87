// Who is who on the channel: this node's key and certificate, and the registry that pins each
// node's name to its key. A peer is the node whose registered key its TLS certificate carries:
// the TLS 1.3 handshake proves the peer holds that key, so the identity is bound to the very
// connection that carries the link (no separate signature, nothing to relay).
#pragma once

#include "runtime/config.hpp"
#include "runtime/identity.hpp"
#include "runtime/registry.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace montana {

/// This node's key and certificate as PEM text; `generation` grows when the files change.
struct own_identity {
  std::string key_pem;
  std::string certificate_pem;
  uint64_t generation = 0;
};

/// Thread-safe: the channel's I/O thread identifies peers while the refresher re-reads files.
class trust {
public:
  /// Checks this node's key and certificate against each other, its name and the registry;
  /// throws identity_error or registry_error with one line naming the file that is wrong.
  trust(const config& cfg, const std::string& node);

  /// The node whose registered key `cert` carries, when it is a node of this cluster's
  /// configuration and the certificate names it and is valid now; else empty, with `problem`.
  std::string identify(x509_st& cert, std::string& problem);

  own_identity own() const;

  /// Re-reads the registry, this node's key and its certificate when their files changed (a
  /// registry or identity that no longer loads keeps the last good one, with a warning), and
  /// repeats the expiry warning every 12 hours. Blocking file I/O: the refresher thread calls it.
  void refresh();

private:
  void reload_registry();
  void reload_identity();

  const config& cfg_;
  std::string node_;
  std::string registry_path_;
  std::string key_path_;
  std::string certificate_path_;
  mutable std::mutex mutex_;
  registry registry_;
  std::string registry_stamp_;
  own_identity own_;
  std::string identity_stamp_;
  std::chrono::steady_clock::time_point expiry_checked_;
  /// When each peer's expiring certificate was last warned about.
  std::map<std::string, std::chrono::steady_clock::time_point> peer_warned_;
};

/// For the demo and tests: a fresh identity for every node of `cfg` in `dir` (keys, certificates
/// and the registry), and cfg.tls pointed at them.
void create_cluster_identities(config& cfg, const std::string& dir);

} // namespace montana
