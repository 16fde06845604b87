// Five real `montana-actors run` processes, each in a test host of its own (support/netns.hpp),
// with a Telegram Bot API stand-in on a sixth host and the duty program long-polling it; WAN
// latency from a relay in front of each node (montana-wan-relay); faults made on the processes
// and the network. The stand-in's own log is the evidence (support/poll_log.hpp).
//
// Layout: node i (chain order) at 198.18.0.(i+1), the stand-in at 198.18.1.1 (HTTP 8081, HTTPS
// 8443, control 8099). Without latency a node listens on its address; with latency it listens
// on 127.0.0.1 in its own host (`bind`) and its relay on its address (`host`, what the others
// dial), holding every byte `delay_ms` (+ up to `jitter_ms`) in each direction.
#pragma once

#include "runtime/config.hpp"
#include "support/netns.hpp"
#include "support/telegram.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace montana::testing {

/// How the chaos cluster is laid out and configured.
struct chaos_plan {
  /// One-way delay added to each direction between any two nodes; 0 = no relays.
  int delay_ms = 0;
  /// Up to this much more per chunk, at random (never reordering a connection's bytes).
  int jitter_ms = 0;
  /// Seeds the relays' jitter.
  uint64_t seed = 1;
  /// The duty polls the stand-in over HTTPS (test CA) instead of HTTP.
  bool https = false;
  /// The duty's getUpdates timeout, seconds.
  int poll_timeout_s = 10;
  /// Edits the configuration after chaos_config made it (timings of one test).
  std::function<void(config&)> tweak;
};

/// Polls of one poller less than this apart are one polling session (support/poll_log.hpp):
/// the duty pauses 1 s after an error before it polls again.
constexpr int64_t poll_join_us = 2'000'000;

class chaos_cluster {
public:
  /// Why the chaos cluster cannot run here; empty when it can.
  static std::string unavailable();

  /// Makes the hosts, identities and configuration, starts the stand-in and the relays; the
  /// nodes are not started. Throws std::runtime_error (net_error) with what failed.
  explicit chaos_cluster(chaos_plan plan);
  /// Ends every process and removes the hosts and the directory (kept when the environment
  /// has MONTANA_CHAOS_KEEP=1).
  ~chaos_cluster();
  chaos_cluster(const chaos_cluster&) = delete;
  chaos_cluster& operator=(const chaos_cluster&) = delete;

  const std::string& dir() const { return dir_; }
  /// Node names in chain order.
  std::vector<std::string> nodes() const;
  test_net& net() { return *net_; }
  const telegram_standin& telegram() const { return *telegram_; }

  void start_all();
  void start(const std::string& name);
  /// SIGKILL to the service (its duty dies with it: PR_SET_PDEATHSIG).
  void kill(const std::string& name);
  /// SIGTERM, then the service's own orderly leave; SIGKILL after 30 s.
  void stop(const std::string& name);
  /// SIGSTOP / SIGCONT to the service (its duty process runs on).
  void freeze(const std::string& name);
  void thaw(const std::string& name);
  /// The service runs (it may be frozen).
  bool running(const std::string& name);

  /// Busy processes on the hosts, `n` in all, spread over the nodes' hosts; 0 ends them.
  void hog(int n);

  /// The stand-in's getUpdates so far, pollers named by host.
  std::vector<poll_record> polls() const;
  /// Waits until `name` alone has polled for `stable`; false after `timeout`.
  bool wait_for_sole_poller(const std::string& name, std::chrono::milliseconds timeout,
                            std::chrono::milliseconds stable = std::chrono::seconds{3});
  /// Nodes whose status endpoint says they are linked to every other node right now.
  std::vector<std::string> fully_linked();
  /// Nodes whose status endpoint says they hold, claim or release the duty right now.
  std::vector<std::string> claimants();
  /// Waits until every running node is linked to every other one; false after `timeout`.
  bool wait_for_mesh(std::chrono::milliseconds timeout);

  /// Each node's role, verdict and link lines of its log, and the stand-in's output: what a
  /// failed test prints.
  std::string diagnostics() const;

private:
  void start_relay(const std::string& name);
  /// The status document of running node `name` (null when it does not answer).
  nlohmann::json status_of(const std::string& name);

  chaos_plan plan_;
  std::string dir_;
  config cfg_;
  std::string config_path_;
  std::unique_ptr<test_net> net_;
  std::unique_ptr<telegram_standin> telegram_;
  std::map<std::string, pid_t> services_;
  std::vector<pid_t> helpers_;
  std::vector<pid_t> hogs_;
};

/// The cluster's one configuration: every node, its address and how it is dialed (`host` vs
/// `bind`), the duty polling the stand-in, the status endpoint, the shell's socket and state in
/// `dir`, identities in `dir`. The one place the chaos suites make configuration.
config chaos_config(const chaos_plan& plan, const std::vector<net_host>& nodes,
                    const telegram_standin& telegram, const std::string& dir);

} // namespace montana::testing
