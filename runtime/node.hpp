// One montana node: its own actor system and actors, started and stopped in phases.
#pragma once

#include "actors/checker.hpp"
#include "actors/launcher.hpp"
#include "runtime/config.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace montana {

class io_thread;
class refresher;
class shell_endpoint;
class status_http;
class tls_channel;
class trust;

/// Seams a node is built with; empty members get the real implementations.
struct node_options {
  net_checks_ptr checks;
  launcher_ptr launcher;
  /// CAF scheduler threads; 0 keeps CAF's default (one per core, at least four). A node's actors
  /// handle a few messages a second and never block, and every idle worker costs wake-ups.
  size_t scheduler_threads = 2;
  /// How often this node's key and certificate and the registry are checked for changes.
  duration identity_refresh{1000};
  /// Told once, from an actor's thread, after the node failed (a core actor exited without being
  /// asked to) and has stopped its duties and left the cluster: why. The owner must then stop()
  /// the node; `montana-actors run` exits non-zero so that systemd restarts it. May be empty.
  std::function<void(const std::string&)> on_failure;
};

/// Start-up order: identities -> I/O thread -> channel (listening) -> actor system -> guardian
/// -> inspector -> peer -> channel started -> probes -> breather (with `[breath] repo`) ->
/// leaders (each spawning its bot-supervisor) -> shell socket -> status endpoint (with
/// `[status]`). Shutdown runs in reverse.
class node {
public:
  /// Throws config_error when `name` is not in `cfg`.
  node(config cfg, std::string name, node_options opts = {});
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Spawns the actors and publishes the gateway; throws std::runtime_error with
  /// one line (e.g. the address is taken) and leaves the node stopped.
  void start();

  /// Applies what a running node can take from `fresh` (SIGHUP): probe timings, the log level,
  /// each duty's command, env, stop_grace and restart delays (for its next process). Logs one
  /// warning per change that needs a restart and one line with what was applied; returns that.
  std::vector<std::string> reload(const config& fresh);

  /// Hands every duty it holds to the next node, or stops its process when nobody takes it
  /// (SIGTERM, then SIGKILL after stop_grace), then stop().
  void leave();

  /// Abrupt end: every actor (duty processes are SIGKILLed with their supervisors) and the
  /// actor system.
  void stop();

  bool running() const { return system_ != nullptr; }
  /// Why the node failed since its last start(); nullopt while it has not.
  std::optional<std::string> failure() const;
  const std::string& name() const { return name_; }
  const config& cluster() const { return cfg_; }

  /// The chain-leader of each duty this node takes part in (empty while stopped).
  const std::map<std::string, caf::actor>& leaders() const { return leaders_; }
  /// The probe of each other node (empty while stopped).
  const std::map<std::string, caf::actor>& probes() const { return probes_; }
  /// The breather (null while stopped or without `[breath] repo`).
  const caf::actor& breather() const { return breather_; }
  caf::actor_system& system() { return *system_; }
  /// This node's peer actor: its links to the other nodes.
  const caf::actor& gateway() const { return peer_; }
  /// Where this node's shell listens (`[shell] socket`, expanded).
  std::string shell_socket() const;
  /// The node-level actor that gathers every other actor's state (node_status, actor_info).
  const caf::actor& inspector() const { return inspector_; }
  /// The root of the node's supervision: it fails the node when a core actor exits, and answers
  /// the health round (health_atom) for the systemd watchdog.
  const caf::actor& guardian() const { return guardian_; }

private:
  void start_parts();
  /// Records the first failure and tells the owner.
  void fail(const std::string& why);

  config cfg_;
  std::string name_;
  node_options opts_;
  // Destroyed last: the I/O components below run on it.
  std::unique_ptr<io_thread> io_;
  std::shared_ptr<trust> identities_;
  std::unique_ptr<refresher> refresher_;
  std::shared_ptr<tls_channel> channel_;
  std::unique_ptr<caf::actor_system_config> sys_cfg_;
  std::unique_ptr<caf::actor_system> system_;
  caf::actor guardian_;
  caf::actor peer_;
  caf::actor inspector_;
  /// Set while stop() ends the actors: their exits are expected.
  std::atomic<bool> stopping_{false};
  mutable std::mutex failure_mutex_;
  std::optional<std::string> failure_;
  std::map<std::string, caf::actor> probes_;
  caf::actor breather_;
  std::unique_ptr<shell_endpoint> shell_;
  /// The [status] HTTP endpoint, when configured.
  std::unique_ptr<status_http> status_http_;
  std::map<std::string, caf::actor> leaders_;
};

} // namespace montana
