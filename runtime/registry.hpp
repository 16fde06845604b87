// The node registry `node_crypto/nodes.json`, in the original's shape: a JSON object keyed by
// address, each entry with address, public_key (hex), node_name, alias, ip, priority and whatever
// else the original wrote (type, created_at, official, owner, location). It is what pins
// identities: a peer is the node whose entry holds its public key. Breathing syncs the file
// through git, so a rewrite keeps every field it does not understand, in the file's order.
#pragma once

#include "runtime/identity.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace montana {

struct config;

/// A registry problem; `what()` is one line naming the file (or origin) and the entry.
class registry_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// One entry: a node of the chain.
struct registry_entry {
  /// "mt" + hex of the first 20 bytes of SHA-256 of the public key; also the entry's JSON key.
  std::string address;
  /// The raw Ed25519 public key, lower-case hex.
  std::string public_key;
  std::string node_name;
  /// "<node_name>.montana.network": the certificate's CN.
  std::string alias;
  /// Where the node runs (the config's host).
  std::string ip;
  /// Position in the chain, 1 first.
  int64_t priority = 0;
  /// The entry as read, every field in file order; the members above are written over it.
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();
};

/// What upsert did to the registry.
struct upsert_result {
  enum class change { added, updated, replaced };
  change what = change::added;
  /// For `replaced`: the address of the name's previous key, now gone.
  std::string old_address;
};

/// The registry in memory, entries in file order.
class registry {
public:
  /// Reads and validates `path`. Throws registry_error.
  static registry load(const std::string& path);

  /// Validates JSON `text`; `origin` names it in errors ("<path>: entry mt…: problem").
  static registry parse(std::string_view text, const std::string& origin);

  const std::vector<registry_entry>& entries() const { return entries_; }

  /// The entry of `node_name`, or nullptr.
  const registry_entry* find_name(std::string_view node_name) const;

  /// The entry of `address`, or nullptr.
  const registry_entry* find_address(std::string_view address) const;

  /// Adds `entry`; or updates the entry of its address; or, when its node name belongs to another
  /// address (a node with a new key), replaces that entry in place. The typed members come from
  /// `entry`; every other field of the old entry stays, fields new to it are added. Throws
  /// registry_error for an invalid entry or a new address already registered under another name.
  upsert_result upsert(const registry_entry& entry);

  /// The file text: an object keyed by address, indented by 2 as the original writes it.
  std::string text() const;

  /// Writes text() to `path` atomically with mode 0644. Throws registry_error.
  void save(const std::string& path) const;

private:
  std::vector<registry_entry> entries_;
};

/// The entry for the identity of `cert` as `identity register` writes it: ip = the node's host
/// in `cfg` and priority = its position in the chain, and the original's `type` and `created_at`
/// (now). Throws registry_error when the certificate names no node of `cfg`.
registry_entry entry_for(const identity_info& cert, const config& cfg);

/// `identity register`: adds or updates the entry of the certificate in `cert_path` in the
/// registry at `registry_path` (created when absent). The certificate must be valid now with a
/// UID matching its key, and, when `expected_name` is given, belong to that name. Returns the line
/// to print, e.g. "added amsterdam (mt…) to node_crypto/nodes.json". Throws registry_error or
/// identity_error.
std::string register_identity(const std::string& registry_path, const std::string& cert_path,
                              const config& cfg,
                              const std::optional<std::string>& expected_name = std::nullopt);

} // namespace montana
