#include "actors/bot_supervisor.hpp"

#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <utility>

// The life of the duty on this node (bot_supervisor_state::phase):
//
//              run_duty                 child_started
//   +------+ ------------> +----------+ -------------> +---------+
//   | idle |               | starting |                | running |
//   +------+ <---+         +----------+                +---------+
//      ^         |          |  ^     |                  |      |
//      |         |          |  |     | child_failed     |      | child_exited
//      |         |          |  |     v (duty_failed)    |      v (duty_exited)
//      |         | stop     |  |  +---------+           |      |
//      |         +----------|--|--| backoff |<----------|------+
//      |   (answered at     |  |  +---------+           |
//      |    once; restart   |  +-----+ delay elapsed    |
//      |    cancelled)      |                           |
//      |               stop |                      stop |
//      |                    v                           |
//      |  child gone   +----------+                     |
//      +-------------- | stopping | <-------------------+
//   (or to starting if +----------+  SIGTERM; after stop_grace SIGKILL;
//    run_duty came                   every stop_duty is answered once
//    meanwhile)                      the child is gone
//
// stop_duty in idle is answered at once. duty_started goes out only on
// child_started (and again, with the same pid, when run_duty brings a new term
// for a running duty: a restart would only open a gap in polling); duty_exited
// only for a child that was announced so.

namespace montana {

namespace {

/// After SIGKILL, how often a child that is still not reported gone is
/// complained about and killed again.
constexpr duration kill_recheck{5000};

/// Lines of output kept for the shell's `duty`.
constexpr size_t output_lines = 20;

const char* to_string(bot_supervisor_state::phase x) {
  using phase = bot_supervisor_state::phase;
  switch (x) {
  case phase::idle:
    return "idle";
  case phase::starting:
    return "starting";
  case phase::running:
    return "running";
  case phase::backoff:
    return "backoff";
  case phase::stopping:
    return "stopping";
  }
  return "invalid";
}

} // namespace

duration restart_backoff::next(duration uptime) {
  if (uptime >= max_)
    reset();
  last_ = std::min(last_ == duration::zero() ? min_ : last_ * 2, max_);
  return last_;
}

bot_supervisor_state::~bot_supervisor_state() {
  // The actor is going away (node shutdown, kill, crash): no stop sequence
  // can run any more, and a poller must not outlive its supervisor.
  if (child != 0) {
    spdlog::warn("[{}] supervisor exits while child {} (pid {}) lives: SIGKILL", tag(), child, pid);
    launcher->signal(child, SIGKILL);
  }
  for (auto& rp : stop_waiters)
    rp.deliver(caf::make_error(caf::sec::request_receiver_down));
}

void bot_supervisor_state::on_run(const run_duty& x) {
  auto previous = std::exchange(term, x.term);
  switch (current) {
  case phase::idle:
    // A new episode: crashes before the last stop say nothing about it.
    backoff.reset();
    start_child();
    break;
  case phase::running:
    if (term != previous)
      self->send(listener, duty_started{duty.name, term, pid});
    break;
  case phase::stopping:
    run_after_stop = true;
    break;
  case phase::starting:
  case phase::backoff:
    // Already on its way; it reports the new term.
    break;
  }
}

caf::response_promise bot_supervisor_state::on_stop(const stop_duty& x) {
  auto rp = self->make_response_promise();
  // The latest command wins: a run_duty before this stop is void.
  run_after_stop = false;
  switch (current) {
  case phase::idle:
    rp.deliver(caf::unit);
    break;
  case phase::backoff:
    spdlog::info("[{}] stopped while waiting to restart: {}", tag(), x.reason);
    ++restart_generation;
    current = phase::idle;
    rp.deliver(caf::unit);
    break;
  case phase::starting:
  case phase::running:
    spdlog::info("[{}] stopping child {} (pid {}): {}", tag(), child, pid, x.reason);
    current = phase::stopping;
    stop_waiters.push_back(rp);
    stop_child(coros, child);
    break;
  case phase::stopping:
    stop_waiters.push_back(rp);
    break;
  }
  return rp;
}

void bot_supervisor_state::on_started(const child_started& x) {
  if (!is_current(x.id))
    return;
  pid = x.pid;
  started_at = self->clock().now();
  started_us = unix_us();
  // While stopping, the child is about to go: never announce it.
  if (current != phase::starting)
    return;
  current = phase::running;
  announced = true;
  self->send(listener, duty_started{duty.name, term, pid});
}

void bot_supervisor_state::on_output(const child_output& x) {
  if (!is_current(x.id))
    return;
  spdlog::info("[{} pid {}] {}", tag(), pid, x.line);
  output.push_back(x.line);
  if (output.size() > output_lines)
    output.pop_front();
}

void bot_supervisor_state::on_exited(const child_exited& x) {
  if (!is_current(x.id))
    return;
  bool requested = current == phase::stopping;
  last_exit =
      x.signal != 0
          ? "pid " + std::to_string(x.pid) + " killed by signal " + std::to_string(x.signal)
          : "pid " + std::to_string(x.pid) + " exited with code " + std::to_string(x.exit_code);
  if (!requested)
    ++counters.errors;
  if (announced)
    self->send(listener, duty_exited{duty.name, term, x.pid, x.exit_code, x.signal, requested});
  auto uptime = std::chrono::duration_cast<duration>(self->clock().now() - started_at);
  forget_child();
  if (requested)
    return; // stop_child takes it from here
  spdlog::warn("[{}] pid {} exited unexpectedly (code {}, signal {}) after {} ms", tag(), x.pid,
               x.exit_code, x.signal, uptime.count());
  restart_later(uptime);
}

void bot_supervisor_state::on_failed(const child_failed& x) {
  if (!is_current(x.id))
    return;
  spdlog::error("[{}] cannot start: {}", tag(), x.reason);
  ++counters.errors;
  last_exit = "cannot start: " + x.reason;
  self->send(listener, duty_failed{duty.name, term, x.reason});
  bool stopping = current == phase::stopping;
  forget_child();
  if (!stopping)
    restart_later(duration::zero());
}

bool bot_supervisor_state::is_current(uint64_t id) const {
  // A launcher reports nothing after a child's end, so this is a bug elsewhere;
  // acting on it could restart or stop the wrong child.
  if (id != child)
    spdlog::warn("[{}] ignored a report about child {} (current: {})", tag(), id, child);
  return id == child;
}

void bot_supervisor_state::on_restart(const std::string& reason) {
  switch (current) {
  case phase::starting:
  case phase::running:
    spdlog::info("[{}] stopping child {} (pid {}) to restart it: {}", tag(), child, pid, reason);
    current = phase::stopping;
    run_after_stop = true;
    stop_child(coros, child);
    break;
  case phase::backoff:
    // Waiting to restart anyway: do it now.
    ++restart_generation;
    start_child();
    break;
  case phase::idle:
  case phase::stopping:
    break;
  }
}

void bot_supervisor_state::on_update(const duty_update& x) {
  duty.command = x.command;
  duty.env = x.env;
  duty.stop_grace = duration{x.stop_grace_ms};
  duty.restart_min = duration{x.restart_min_ms};
  duty.restart_max = duration{x.restart_max_ms};
  backoff = restart_backoff{duty.restart_min, duty.restart_max};
}

process_status bot_supervisor_state::status() const {
  process_status out;
  out.phase = to_string(current);
  out.pid = pid;
  out.term = term;
  out.started_us = pid != 0 ? started_us : 0;
  out.starts = starts;
  out.restarts = restarts;
  out.last_exit = last_exit;
  out.output.assign(output.begin(), output.end());
  return out;
}

actor_info bot_supervisor_state::info() const {
  auto out = describe_actor(self, tag(), "bot-supervisor", counters);
  std::string command;
  for (const auto& arg : duty.command)
    command += (command.empty() ? "" : " ") + arg;
  out.state = {{"phase", to_string(current)},
               {"pid", pid != 0 ? std::to_string(pid) : "none"},
               {"term", std::to_string(term)},
               {"starts", std::to_string(starts) + ", " + std::to_string(restarts) + " restarts"},
               {"last exit", last_exit.empty() ? "none" : last_exit},
               {"command", command}};
  return out;
}

void bot_supervisor_state::start_child() {
  launch_spec spec{duty.command, duty.env, tag()};
  // Set last so that no configured variable can change who the child thinks it
  // is: a stray instance posing as another node was a mistake of the original.
  spec.env["MONTANA_NODE_NAME"] = node;
  spec.env["MONTANA_DUTY"] = duty.name;
  spec.env["MONTANA_TERM"] = std::to_string(term);
  child = launcher->new_id();
  pid = 0;
  announced = false;
  child_gone.reset();
  current = phase::starting;
  ++starts;
  spdlog::info("[{}] starting child {} under term {}", tag(), child, term);
  launcher->start(child, std::move(spec), caf::actor_cast<caf::actor>(self));
}

void bot_supervisor_state::forget_child() {
  child = 0;
  pid = 0;
  announced = false;
  child_gone.notify();
}

void bot_supervisor_state::restart_later(duration uptime) {
  auto delay = backoff.next(uptime);
  ++restarts;
  current = phase::backoff;
  spdlog::info("[{}] restarting in {} ms", tag(), delay.count());
  restart_after(coros, delay, ++restart_generation);
}

co::task bot_supervisor_state::restart_after(co::scope& coros, duration delay,
                                             uint64_t generation) {
  co_await co::sleep(coros, delay);
  // A stop since then (or a newer failure) made this restart obsolete.
  if (generation == restart_generation)
    start_child();
}

co::task bot_supervisor_state::stop_child(co::scope& coros, uint64_t id) {
  launcher->signal(id, SIGTERM);
  if (!co_await child_gone.wait(coros, duty.stop_grace)) {
    spdlog::warn("[{}] child {} ignored SIGTERM for {} ms: SIGKILL", tag(), id,
                 duty.stop_grace.count());
    launcher->signal(id, SIGKILL);
    // SIGKILL cannot be ignored: a child still not reported gone is stuck in
    // the kernel or lost by the launcher. Keep saying so, keep killing.
    while (!co_await child_gone.wait(coros, kill_recheck)) {
      spdlog::error("[{}] child {} still not gone after SIGKILL", tag(), id);
      launcher->signal(id, SIGKILL);
    }
  }
  // Other messages ran while we waited, but only the child's end leaves the
  // stopping phase, so the phase is still ours to change.
  current = phase::idle;
  for (auto& rp : std::exchange(stop_waiters, {}))
    rp.deliver(caf::unit);
  if (std::exchange(run_after_stop, false))
    start_child();
}

caf::behavior bot_supervisor(caf::stateful_actor<bot_supervisor_state>* self, std::string node,
                             duty_settings duty, launcher_ptr launcher, caf::actor listener) {
  auto& st = self->state;
  st.node = std::move(node);
  st.duty = std::move(duty);
  st.launcher = std::move(launcher);
  st.listener = std::move(listener);
  st.backoff = restart_backoff{st.duty.restart_min, st.duty.restart_max};
  // Log and drop: a stray message must not take the duty down with the actor.
  drop_unexpected(self, self->state.tag(), st.counters);
  return counted(
      st.counters, [self](const run_duty& x) { self->state.on_run(x); },
      [self](const stop_duty& x) { return self->state.on_stop(x); },
      [self](const child_started& x) { self->state.on_started(x); },
      [self](const child_output& x) { self->state.on_output(x); },
      [self](const child_exited& x) { self->state.on_exited(x); },
      [self](const child_failed& x) { self->state.on_failed(x); },
      [self](restart_atom, const std::string& reason) { self->state.on_restart(reason); },
      [self](const duty_update& x) { self->state.on_update(x); },
      [self](status_atom) { return self->state.status(); },
      [self](inspect_atom) { return self->state.info(); });
}

caf::actor spawn_bot_supervisor(caf::actor_system& sys, std::string node, duty_settings duty,
                                launcher_ptr launcher, caf::actor listener) {
  return sys.spawn(bot_supervisor, std::move(node), std::move(duty), std::move(launcher),
                   std::move(listener));
}

} // namespace montana
