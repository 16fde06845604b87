// `montana-actors shell`: the operator's introspection shell. One command and exit (scripts), or
// an interactive session with line editing, history and completion (libedit).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace montana {

struct shell_options {
  /// Default: /etc/montana/montana.toml when it exists, else the embedded default.
  std::optional<std::string> config_path;
  /// Connect to the shell socket of this node of the configuration (default: env
  /// MONTANA_NODE_NAME) ...
  std::optional<std::string> node;
  /// ... or to this socket.
  std::optional<std::string> socket;
  bool json = false;
  /// The command and its arguments; empty: interactive.
  std::vector<std::string> command;
};

/// Runs the shell on this host's node; returns the exit code (0 ok, 1 a command failed, 2 bad
/// usage). A bad configuration throws config_error; a failed connection shell_error.
int run_shell(const shell_options& options);

/// The commands, one line each, as `help` prints them.
std::string shell_help();

} // namespace montana
