// The cluster configuration: one TOML file describes every node and this node's duties.
// Every key is documented in docs/configuration.md.
#pragma once

#include "messages/messages.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace montana {

using duration = std::chrono::milliseconds;

/// One host of the cluster, in priority order (index 0 ranks highest).
struct node_entry {
  std::string name;
  std::string host;
  uint16_t port = 19333;
  /// Address to listen on; empty means `host`.
  std::string bind;
};

/// How every probe checks its peer.
struct probe_settings {
  duration interval{1000};
  duration timeout{500};
  /// Delay between checks while a peer is failing, so `fall` completes quickly.
  duration retry{100};
  check_mode checks = check_mode::service;
  int rise = 3;
  int fall = 3;
};

/// The 19333 channel between nodes.
struct channel_settings {
  /// BASP heartbeat; a silent link is dropped after `connection_timeout`.
  duration heartbeat_interval{500};
  duration connection_timeout{1500};
  duration reconnect_min{100};
  duration reconnect_max{2000};
};

/// One duty: a process run by exactly one node, the first live one of `chain`.
struct duty_settings {
  std::string name;
  std::vector<std::string> chain;
  /// argv; a TOML string is run as {"/bin/sh", "-c", string}.
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  duration stop_grace{10000};
  duration startup_delay{3000};
  duration restart_min{500};
  duration restart_max{30000};
};

struct log_settings {
  /// trace, debug, info, warn, error or off.
  std::string level = "info";
};

/// The whole configuration as loaded from TOML.
struct config {
  std::vector<node_entry> nodes;
  probe_settings probe;
  channel_settings channel;
  std::vector<duty_settings> duties;
  log_settings log;

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

/// Reads and parses a file. Throws config_error.
config load_config_file(const std::string& path);

/// Resolves this node's name: `--node` if given, else env MONTANA_NODE_NAME.
/// Throws config_error naming the unknown name and the known ones, or when neither is set.
std::string resolve_node_name(const config& cfg, const std::optional<std::string>& flag);

} // namespace montana
