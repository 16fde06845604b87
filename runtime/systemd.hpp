// What `montana-actors run` tells systemd (sd_notify(3)): ready, a status line, a watchdog fed by
// the node's own health, stopping. Without NOTIFY_SOCKET in the environment it does nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace montana {

class node;

/// Reports a started node to the service manager. At construction READY=1 with a STATUS= line;
/// then, from its own thread ("montana-health"), a round every half watchdog period (at most 5 s):
/// the node's guardian must answer a health round within a quarter round — every core actor it
/// supervises (gateway, probes, leaders, bot-supervisors, breather, inspector, status endpoint)
/// answered within an eighth, and the node has not failed — and only then does the round send
/// WATCHDOG=1 (when WATCHDOG_USEC is set). So a wedged actor system, a wedged actor or a failed
/// node stops the pings and systemd restarts the service. Each round also refreshes STATUS=
/// (linked peers, each duty's role) when it changed.
class service_notifier {
public:
  /// `n` must be started; call stopping() before the node leaves or stops.
  explicit service_notifier(node& n);
  /// Calls stopping().
  ~service_notifier();

  service_notifier(const service_notifier&) = delete;
  service_notifier& operator=(const service_notifier&) = delete;

  /// Ends the health thread and sends STOPPING=1. Idempotent.
  void stopping();

  /// The last STATUS= before the process exits ("left the cluster", "failed: …"): systemd keeps
  /// it for the stopped unit, where "leaving" would claim a leave still under way.
  void ended(const std::string& how);

  /// RELOADING=1 before a configuration reload (SIGHUP), ready() after it.
  void reloading();
  void ready();

private:
  void run();
  /// One health round: empty when healthy, else what is wrong.
  std::string health_problem();
  /// Linked peers and duty roles, as shown by `systemctl status`.
  std::string status_line();
  /// Bound of each answer: a quarter round, so the health round and the status questions of a
  /// node with one duty fit in one round.
  std::chrono::microseconds answer_timeout() const { return round_ / 4; }

  node& node_;
  /// Time between two rounds; half of it bounds each answer.
  std::chrono::microseconds round_;
  bool watchdog_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace montana
