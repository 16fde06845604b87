#include "runtime/cli.hpp"

#include "runtime/config.hpp"
#include "runtime/demo.hpp"
#include "runtime/identity.hpp"
#include "runtime/log.hpp"
#include "runtime/node.hpp"
#include "runtime/registry.hpp"
#include "runtime/shell.hpp"
#include "runtime/systemd.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <unistd.h>

namespace montana {

namespace {

// Exit codes (docs/operations.md): 0 done, 1 failed while running, 2 bad usage or configuration.
constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

int signal_pipe[2] = {-1, -1};

/// Wakes the run loop with `byte`: 'T' (SIGINT, SIGTERM), 'H' (SIGHUP) or 'F' (the node failed).
void wake(char byte) {
  // Async-signal-safe; a full pipe means a wake-up is already pending.
  [[maybe_unused]] auto n = ::write(signal_pipe[1], &byte, 1);
}

void on_signal(int sig) {
  wake(sig == SIGHUP ? 'H' : 'T');
}

/// SIGINT, SIGTERM and SIGHUP become bytes on a pipe. A handler (not a blocked mask) is used so
/// that duty processes, which inherit the mask, still receive their SIGTERM.
void catch_signals() {
  if (::pipe(signal_pipe) != 0)
    throw std::runtime_error("cannot create the signal pipe");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
}

/// Blocks until the next wake-up (see wake()).
char next_signal() {
  char byte = 0;
  while (::read(signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  return byte;
}

config load(const std::optional<std::string>& path) {
  return path ? load_config_file(*path) : parse_config(default_config_text(), "<default>");
}

int run_node(const std::optional<std::string>& config_path,
             const std::optional<std::string>& node_name) {
  auto cfg = load(config_path);
  auto name = resolve_node_name(cfg, node_name);
  setup_logging(cfg.log.level);
  node_options opts;
  // The node already stopped its duties and left the cluster; the loop ends the process.
  opts.on_failure = [](const std::string&) { wake('F'); };
  node n{cfg, name, opts};
  catch_signals();
  n.start();
  service_notifier service{n};
  char woken = 0;
  while ((woken = next_signal()) == 'H') {
    if (!config_path) {
      spdlog::warn("[{}] reload: running with the embedded configuration: nothing to reload", name);
      continue;
    }
    service.reloading();
    try {
      n.reload(load_config_file(*config_path));
    } catch (const config_error& e) {
      spdlog::error("[{}] reload failed, the running configuration stays: {}", name, e.what());
    }
    service.ready();
  }
  service.stopping();
  if (woken == 'F') {
    // Non-zero, so that systemd restarts the service (Restart=always counts it as a failure).
    spdlog::error("[{}] exiting with code {}: the node failed: {}", name, exit_failure,
                  n.failure().value_or("?"));
    n.stop();
    service.ended("failed: " + n.failure().value_or("?"));
    return exit_failure;
  }
  spdlog::info("[{}] terminating", name);
  n.leave();
  // A failure during the leave (a stop never confirmed) is one too.
  if (auto failure = n.failure()) {
    service.ended("failed while leaving: " + *failure);
    return exit_failure;
  }
  service.ended("left the cluster");
  return exit_ok;
}

/// With `list`, the nodes in priority order as "NAME HOST PORT" lines (for scripts: deploy.sh).
int check_config(const std::string& path, bool list) {
  auto cfg = load_config_file(path);
  if (list) {
    for (const auto& n : cfg.nodes)
      std::cout << n.name << " " << n.host << " " << n.port << "\n";
    return exit_ok;
  }
  std::cout << path << ": ok: " << cfg.nodes.size() << " nodes (" << cfg.node_names() << "), "
            << cfg.duties.size() << " duties\n";
  return exit_ok;
}

int identity_new(const std::string& name, const std::string& out, int days) {
  auto info = create_identity(name, out, days);
  std::cout << info.address << "\n";
  std::cerr << "wrote " << info.files.key_path << " (mode 0600) and " << info.files.cert_path
            << "\n";
  return exit_ok;
}

int identity_show(const std::string& path) {
  std::cout << describe_identity(inspect_certificate(path));
  return exit_ok;
}

/// The certificate is `--cert`, else NODE.crt; NODE is `--node`, else the certificate's own name,
/// else env MONTANA_NODE_NAME.
int identity_register(const std::optional<std::string>& config_path,
                      const std::optional<std::string>& node_name,
                      const std::optional<std::string>& cert_path,
                      const std::optional<std::string>& registry_path) {
  auto cfg = load(config_path);
  auto name = node_name;
  if (!name && !cert_path)
    name = resolve_node_name(cfg, std::nullopt);
  auto cert = cert_path ? *cert_path : *name + ".crt";
  // The registry the nodes will read, unless told otherwise.
  auto registry = registry_path ? *registry_path : expand_node(cfg.tls.registry, name.value_or(""));
  std::cout << register_identity(registry, cert, cfg, name) << "\n";
  return exit_ok;
}

} // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"montana-actors: keeps one duty process running on the first live node of a "
               "chain"};
  app.set_version_flag("--version", std::string{"montana-actors "} + MONTANA_VERSION);
  app.require_subcommand(1);

  std::optional<std::string> config_path;
  std::optional<std::string> node_name;
  auto run = app.add_subcommand("run", "run this node of the cluster");
  run->add_option("--config", config_path, "cluster configuration (TOML); default: embedded");
  run->add_option("--node", node_name, "this node's name; default: env MONTANA_NODE_NAME");

  uint16_t demo_port = 19333;
  bool demo_fast = false;
  auto demo = app.add_subcommand("demo", "five in-process nodes on 127.0.0.1-5 with a prompt");
  demo->add_option("--port", demo_port, "port of every demo node")->capture_default_str();
  demo->add_flag("--fast", demo_fast, "fast probe profile (failover in well under a second)");

  shell_options shell_opts;
  auto shell = app.add_subcommand(
      "shell", "the operator's introspection shell: one COMMAND and exit, or interactive");
  shell->add_option("--config", shell_opts.config_path,
                    "cluster configuration (TOML); default: /etc/montana/montana.toml if present, "
                    "else embedded");
  auto shell_node =
      shell->add_option("--node", shell_opts.node,
                        "the node on this host, whose [shell] socket to use; default: env "
                        "MONTANA_NODE_NAME");
  shell->add_option("--socket", shell_opts.socket, "connect to this shell socket instead")
      ->excludes(shell_node);
  shell->add_flag("--json", shell_opts.json, "machine-readable output");
  // Everything from the first word on is the command, flags included (`log -f`).
  shell->prefix_command();
  shell->footer(shell_help());

  std::string check_path;
  auto check = app.add_subcommand("check-config", "validate a configuration file and exit");
  check->add_option("file", check_path, "configuration file (TOML)")->required();
  bool check_list = false;
  check->add_flag("--list", check_list,
                  "print the nodes in priority order, one \"NAME HOST PORT\" line each");

  auto identity =
      app.add_subcommand("identity", "node identities: key pair, certificate, registry");
  identity->require_subcommand(1);

  std::string new_name;
  std::string new_out = ".";
  int new_days = default_certificate_days;
  auto id_new =
      identity->add_subcommand("new", "create NAME.key (0600) and NAME.crt, print the address");
  id_new->add_option("name", new_name, "node name (a-z, 0-9, '-')")->required();
  id_new->add_option("--out", new_out, "directory for the two files")->capture_default_str();
  id_new->add_option("--days", new_days, "certificate validity in days")
      ->capture_default_str()
      ->check(CLI::Range(1, 36500));

  std::string show_path;
  auto id_show = identity->add_subcommand("show", "print name, address, fingerprint and expiry");
  id_show->add_option("file", show_path, "certificate (PEM)")->required();

  std::optional<std::string> register_config;
  std::optional<std::string> register_node;
  std::optional<std::string> register_cert;
  std::optional<std::string> registry_path;
  auto id_register =
      identity->add_subcommand("register", "add or update this node's entry in the registry");
  id_register->add_option("--config", register_config,
                          "cluster configuration (TOML); default: embedded");
  id_register->add_option("--node", register_node,
                          "node name; default: the certificate's, else env MONTANA_NODE_NAME");
  id_register->add_option("--registry", registry_path,
                          "node registry (JSON); default: [tls] registry of the configuration");
  id_register->add_option("--cert", register_cert, "certificate (PEM); default: NODE.crt");

  app.footer("exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  }

  try {
    if (*run)
      return run_node(config_path, node_name);
    if (*shell) {
      shell_opts.command = shell->remaining();
      return run_shell(shell_opts);
    }
    if (*demo) {
      setup_logging("info");
      return run_demo(demo_config(demo_port, demo_fast), std::cin, std::cout);
    }
    if (*id_new)
      return identity_new(new_name, new_out, new_days);
    if (*id_show)
      return identity_show(show_path);
    if (*id_register)
      return identity_register(register_config, register_node, register_cert, registry_path);
    return check_config(check_path, check_list);
  } catch (const config_error& e) {
    std::cerr << "montana-actors: " << e.what() << "\n";
    return exit_usage;
  } catch (const identity_error& e) {
    std::cerr << "montana-actors: " << e.what() << "\n";
    return exit_usage;
  } catch (const registry_error& e) {
    std::cerr << "montana-actors: " << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "montana-actors: " << e.what() << "\n";
    return exit_failure;
  }
}

} // namespace montana
