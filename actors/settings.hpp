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

} // namespace montana
