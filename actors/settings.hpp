// Plain settings the actors are built from; runtime/config.cpp fills them from TOML.
#pragma once

#include "messages/messages.hpp"

#include <chrono>
#include <cstdint>
#include <map>
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

  bool operator==(const node_entry&) const = default;
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

  bool operator==(const probe_settings&) const = default;
};

/// The 19333 channel between nodes.
struct channel_settings {
  /// Each end of a link sends a heartbeat this often; a link that carries nothing for
  /// `connection_timeout` is closed (a frozen or cut-off node is noticed within it).
  duration heartbeat_interval{500};
  duration connection_timeout{1500};
  /// Bound on everything from accept (or the start of a dial) to the exchanged hellos: TCP, TLS
  /// and the hello, a few round trips.
  duration handshake_timeout{5000};
  duration reconnect_min{100};
  duration reconnect_max{2000};
  /// Connections that have not finished their handshake yet, in all and per remote address;
  /// more are closed at once.
  int max_handshakes = 64;
  int max_handshakes_per_host = 8;

  bool operator==(const channel_settings&) const = default;
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

  bool operator==(const duty_settings&) const = default;
};

/// How a breath authenticates to the remote. Secrets are read when needed, never logged.
struct breath_credentials {
  /// SSH private key file (for ssh:// and scp-like URLs); its `.pub` is used when present.
  std::string ssh_key;
  /// SSH user when the URL names none.
  std::string ssh_user = "git";
  /// HTTPS token: read from this file (first line) ...
  std::string token_file;
  /// ... or from this environment variable.
  std::string token_env;
  /// HTTPS user name sent with the token when the URL names none.
  std::string token_user = "x-access-token";

  bool operator==(const breath_credentials&) const = default;
};

/// The breather: git sync of the shared repository every `interval`.
struct breath_settings {
  /// The clone's working tree; empty = no breather on this node.
  std::string repo;
  std::string remote = "origin";
  std::string branch = "main";
  duration interval{12000};
  /// Repository-relative paths a breath commits; nothing else in the clone is ever committed.
  std::vector<std::string> paths{"data/users.json", "node_crypto/nodes.json"};
  std::string author_name = "montana {node}";
  std::string author_email = "{node}@montana.network";
  breath_credentials credentials;
  /// Pushes per breath: a non-fast-forward refusal fetches, inhales and pushes again.
  int push_attempts = 3;
  /// Longest one step may take before the breath counts as failed.
  duration step_timeout{60000};
  /// Cap of the backoff after failed breaths (the interval doubles per failure up to this).
  duration backoff_max{120000};
  /// Breaths kept in the history.
  int history = 64;

  bool operator==(const breath_settings&) const = default;
};

struct log_settings {
  /// trace, debug, info, warn, error or off.
  std::string level = "info";

  bool operator==(const log_settings&) const = default;
};

} // namespace montana
