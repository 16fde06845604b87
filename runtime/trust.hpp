// Who is who on the TLS channel: this node's key and certificate, every node's certificate,
// and the registry that pins each name to its key.
#pragma once

#include "actors/prover.hpp"
#include "runtime/config.hpp"
#include "runtime/identity.hpp"
#include "runtime/registry.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace montana {

/// Checked at start-up (before CAF builds any TLS context: CAF fails late and hangs on a bad
/// file) and used by the gateway to sign and check the hello handshake.
class trust final : public prover {
public:
  /// Checks this node's key and certificate against each other, its name and the registry;
  /// throws identity_error or registry_error with one line naming the file that is wrong.
  trust(const config& cfg, const std::string& node);

  std::string sign(const std::string& data) override;
  bool verify(const std::string& node, const std::string& data,
              const std::string& signature) override;
  bool is_operator(const std::string& name) override;
  bool verify_operator(const std::string& name, const std::string& data,
                       const std::string& signature) override;
  /// Rewrites the bundle when a certificate or the registry changed on disk.
  void refresh() override;

  const std::string& key_path() const { return key_; }
  const std::string& certificate_path() const { return certificate_; }

  /// Writes trusted_bundle() with the operators, CAF's cafile: only those nodes and operators can
  /// complete a TLS handshake with us. CAF reads it at every new connection, so refresh() keeps
  /// it current.
  void write_bundle(const std::string& path);

private:
  /// Stamps of the registry and of every node's and operator's certificate file.
  std::string sources_stamp();
  /// Re-reads the registry / this node's key when the file changed (refresher thread only).
  void reload_registry();
  void reload_key();

  const config& cfg_;
  std::string node_;
  std::string key_;
  std::string certificate_;
  /// Guards registry_ and signing_: the gateway reads them, the refresher replaces them.
  std::mutex mutex_;
  registry registry_;
  std::string registry_stamp_;
  std::shared_ptr<signing_key> signing_;
  std::string key_stamp_;
  std::chrono::steady_clock::time_point expiry_checked_;
  std::string bundle_path_;
  /// Stamp of every file the bundle was made from.
  std::string bundle_stamp_;
};

/// The certificates of every node of `cfg` (and, with `operators`, of every operator of `reg`)
/// that are valid and carry the key `reg` pins for their name, as one PEM text: a cafile. Each
/// certificate left out is one warning "[self] NAME cannot link: FILE: PROBLEM".
std::string trusted_bundle(const config& cfg, const registry& reg, bool operators,
                           const std::string& self);

/// For the demo and tests: a fresh identity for every node of `cfg` in `dir` (keys, certificates
/// and the registry), and cfg.tls pointed at them.
void create_cluster_identities(config& cfg, const std::string& dir);

} // namespace montana
