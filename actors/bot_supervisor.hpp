// The bot-supervisor: runs one duty's process on this node while told to, and
// makes sure it is gone when told to stop.
#pragma once

#include "actors/coro.hpp"
#include "actors/introspection.hpp"
#include "actors/launcher.hpp"
#include "actors/settings.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace montana {

/// Delays between restarts of a failing duty (pure: no CAF, no clock).
///
/// The first delay is `min`, each further one doubles, capped at `max`. A
/// child that stayed up at least `max` was not crash-looping, so the next
/// delay starts over at `min`: `max` is the one setting that already says how
/// long "too long to wait" is, and a crash loop faster than it keeps backing off.
class restart_backoff {
public:
  restart_backoff(duration min, duration max) : min_(min), max_(max) {}

  /// The delay before the next start, after a child that ran for `uptime`
  /// (zero when it failed to start).
  duration next(duration uptime);

  /// Forgets past failures: the next delay is `min` again.
  void reset() { last_ = duration::zero(); }

private:
  duration min_;
  duration max_;
  duration last_{0};
};

/// State of a bot-supervisor; see bot_supervisor.cpp for the state diagram.
struct bot_supervisor_state {
  /// Where the duty is in its life on this node.
  enum class phase { idle, starting, running, backoff, stopping };

  explicit bot_supervisor_state(caf::stateful_actor<bot_supervisor_state>* self) : self(self) {}

  /// Safety net when the actor exits: SIGKILLs the child's group at once.
  ~bot_supervisor_state();

  bot_supervisor_state(const bot_supervisor_state&) = delete;
  bot_supervisor_state& operator=(const bot_supervisor_state&) = delete;

  void on_run(const run_duty& x);
  caf::response_promise on_stop(const stop_duty& x);
  void on_started(const child_started& x);
  void on_output(const child_output& x);
  void on_exited(const child_exited& x);
  void on_failed(const child_failed& x);
  /// An operator's `duty restart`: stop the running child and start a new one under the same term.
  void on_restart(const std::string& reason);
  /// A reload: the settings of the next process (a running one keeps what it was started with).
  void on_update(const duty_update& x);
  process_status status() const;
  actor_info info() const;

  /// "node/duty", the prefix of every log line about this duty.
  std::string tag() const { return node + "/" + duty.name; }

  static inline const char* name = "bot-supervisor";

  caf::stateful_actor<bot_supervisor_state>* self;
  std::string node;
  duty_settings duty;
  launcher_ptr launcher;
  /// Receives duty_started, duty_exited and duty_failed.
  caf::actor listener;

  phase current = phase::idle;
  /// The term the duty runs (or is to run) under.
  uint64_t term = 0;
  /// The current child's launcher id; 0 when there is none.
  uint64_t child = 0;
  int32_t pid = 0;
  /// Whether duty_started went out for the current child (so duty_exited must follow).
  bool announced = false;
  caf::actor_clock::time_point started_at;
  restart_backoff backoff{duration::zero(), duration::zero()};
  /// Identifies the one pending restart; bumping it cancels that restart.
  uint64_t restart_generation = 0;
  /// A run_duty came in while stopping: start again once stopped.
  bool run_after_stop = false;
  std::vector<caf::response_promise> stop_waiters;
  /// Raised when the current child is gone (exited or failed to start).
  co::signal child_gone;
  actor_counters counters;
  /// When the current child started (wall clock, us).
  int64_t started_us = 0;
  uint64_t starts = 0;
  uint64_t restarts = 0;
  std::string last_exit;
  /// The last lines of output of the duty's processes.
  std::deque<std::string> output;
  // Last: suspended coroutines use everything above and must die first.
  co::scope coros{self};

private:
  /// Whether a launcher report is about the current child.
  bool is_current(uint64_t id) const;
  void start_child();
  void restart_later(duration uptime);
  co::task restart_after(co::scope& coros, duration delay, uint64_t generation);
  co::task stop_child(co::scope& coros, uint64_t id);
  void forget_child();
};

/// The supervisor's behavior; `listener` learns what becomes of the duty.
caf::behavior bot_supervisor(caf::stateful_actor<bot_supervisor_state>* self, std::string node,
                             duty_settings duty, launcher_ptr launcher, caf::actor listener);

/// Spawns a supervisor for `duty` on `node`; it stays idle until run_duty. Besides run_duty,
/// stop_duty and the launcher's reports it answers (restart_atom, reason), (status_atom) ->
/// process_status and (inspect_atom) -> actor_info.
caf::actor spawn_bot_supervisor(caf::actor_system& sys, std::string node, duty_settings duty,
                                launcher_ptr launcher, caf::actor listener);

} // namespace montana
