// The cluster configuration: one TOML file describes every node and this node's duties.
// Every key is documented in docs/configuration.md.
#pragma once

#include "actors/settings.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace montana {

/// The TLS channel and the identities it pins. In paths, `{node}` stands for this node's name.
struct tls_settings {
  /// This node's private key (mode 0600).
  std::string key = "/etc/montana/identity/{node}.key";
  /// Every node's certificate as `<name>.crt`, this node's included.
  std::string certificates = "/var/lib/montana/repo/node_crypto/certs";
  /// The node registry (the original's nodes.json): what pins each name to its key.
  std::string registry = "/var/lib/montana/repo/node_crypto/nodes.json";

  bool operator==(const tls_settings&) const = default;
};

/// The optional HTTP endpoint (`[status]`): /metrics and /status.
struct status_settings {
  /// On when the file has a [status] table.
  bool enabled = false;
  std::string host = "127.0.0.1";
  uint16_t port = 9333;

  bool operator==(const status_settings&) const = default;
};

/// What a node keeps across restarts (`[state]`).
struct state_settings {
  /// Directory of the node's own state files; `{node}` is replaced by this node's name.
  std::string dir = "/var/lib/montana";

  bool operator==(const state_settings&) const = default;
};

/// The operator's shell (`[shell]`): a local Unix socket; file permissions decide who may use it.
struct shell_settings {
  /// `{node}` is replaced by this node's name.
  std::string socket = "/run/montana/{node}.sock";

  bool operator==(const shell_settings&) const = default;
};

/// `text` with every `{node}` replaced by `node` (paths and names in [tls] and [breath]).
std::string expand_node(std::string text, const std::string& node);

/// The whole configuration as loaded from TOML.
struct config {
  std::vector<node_entry> nodes;
  probe_settings probe;
  channel_settings channel;
  std::vector<duty_settings> duties;
  tls_settings tls;
  breath_settings breath;
  log_settings log;
  status_settings status;
  state_settings state;
  shell_settings shell;

  /// The entry named `name`, or nullptr.
  const node_entry* find_node(const std::string& name) const;
  /// Position of `name` in `nodes` (its priority), or -1.
  int rank(const std::string& name) const;
  /// Comma-separated node names, for error messages.
  std::string node_names() const;
};

/// A configuration error; `what()` is the one line shown to the user:
/// "<file>:<line>: <key>: <problem>" when the location is known.
class config_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The embedded default: the five seed hosts, port 19333, one duty `bot`.
std::string_view default_config_text();

/// Parses and validates TOML text; `origin` names it in errors (a file path or "<default>").
/// Throws config_error.
config parse_config(std::string_view text, const std::string& origin);

/// `cfg` as TOML that parse_config reads back to the same settings (every key written out).
std::string config_text(const config& cfg);

/// What differs between the running configuration and `fresh` that a reload cannot apply: one
/// entry per section or key ("[channel]", "duty bot: chain"); empty when a reload can apply all.
std::vector<std::string> changes_needing_restart(const config& running, const config& fresh);

/// Reads and parses a file. Throws config_error.
config load_config_file(const std::string& path);

/// The fast profile of docs/configuration.md: failover after an abrupt crash in tens of ms.
/// Sets probe and channel timings and every duty's startup delay (300 ms).
void apply_fast_profile(config& cfg);

/// `[breath]` for `node`: `{node}` expanded in repo, author and credential paths.
breath_settings breath_for(const config& cfg, const std::string& node);

/// Resolves this node's name: `--node` if given, else env MONTANA_NODE_NAME.
/// Throws config_error naming the unknown name and the known ones, or when neither is set.
std::string resolve_node_name(const config& cfg, const std::optional<std::string>& flag);

} // namespace montana
