#include "runtime/systemd.hpp"

#include "messages/messages.hpp"
#include "runtime/node.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <pthread.h>

namespace montana {

namespace {

using std::chrono::microseconds;

/// Without a watchdog, rounds still refresh the status this often.
constexpr microseconds status_round = std::chrono::seconds{5};

/// Sends one notification; without NOTIFY_SOCKET sd_notify does nothing. A lost notification
/// needs no handling here: systemd acts on what it does not receive.
void notify(const std::string& text) {
  sd_notify(0, text.c_str());
}

/// Sends `question` to `dest` and lets `handlers` take one reply within `timeout`. The timeout is
/// timed on this thread: CAF's request timeouts come from its clock thread, which a wedge may have
/// stopped too. A fresh hidden actor per question, so a late reply never answers the next one.
template <class... Handlers>
void ask(caf::actor_system& sys, const caf::actor& dest, microseconds timeout,
         caf::message question, Handlers... handlers) {
  caf::scoped_actor self{sys, true};
  self->send(dest, std::move(question));
  self->receive(
      std::move(handlers)..., caf::after(timeout) >> [] {});
}

} // namespace

service_notifier::service_notifier(node& n) : node_(n), round_(status_round) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0')
    return;
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) {
    watchdog_ = true;
    // Half the period, as systemd advises, but at least every status round; at least 1 ms, so a
    // tiny period is no busy loop.
    round_ = std::clamp(microseconds{usec / 2}, microseconds{1000}, status_round);
  }
  notify("READY=1\nSTATUS=node " + n.name() +
         " up: " + std::to_string(n.cluster().nodes.size() - 1) + " peers, " +
         std::to_string(n.leaders().size()) + " duties");
  thread_ = std::thread{[this] { run(); }};
}

service_notifier::~service_notifier() {
  stopping();
}

void service_notifier::stopping() {
  {
    std::lock_guard guard{mutex_};
    if (stopping_)
      return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
  notify("STOPPING=1\nSTATUS=node " + node_.name() + " leaving");
}

void service_notifier::ended(const std::string& how) {
  notify("STATUS=node " + node_.name() + " " + how);
}

void service_notifier::reloading() {
  notify("RELOADING=1\nSTATUS=node " + node_.name() + " reloading its configuration");
}

void service_notifier::ready() {
  notify("READY=1");
}

void service_notifier::run() {
  // The name lets a test freeze every other thread of the process (a wedged actor system).
  pthread_setname_np(pthread_self(), "montana-health");
  auto next = std::chrono::steady_clock::now();
  bool was_healthy = true;
  std::string status;
  for (;;) {
    // A fixed cadence, so a slow answer does not push the next watchdog ping further out; after
    // a round longer than the cadence the next one starts at once.
    next = std::max(next + round_, std::chrono::steady_clock::now());
    {
      std::unique_lock guard{mutex_};
      if (wake_.wait_until(guard, next, [this] { return stopping_; }))
        return;
    }
    auto problem = health_problem();
    if (problem.empty() != was_healthy) {
      if (problem.empty())
        spdlog::info("[{}] health: every actor answers again", node_.name());
      else
        spdlog::warn("[{}] health: {}{}", node_.name(), problem,
                     watchdog_ ? ": watchdog pings withheld" : "");
    }
    was_healthy = problem.empty();
    if (!was_healthy)
      continue;
    if (watchdog_)
      notify("WATCHDOG=1");
    if (auto now = status_line(); now != status) {
      status = now;
      notify("STATUS=" + status);
    }
  }
}

std::string service_notifier::health_problem() {
  auto ms = [](microseconds d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
  };
  // The guardian's own bound is shorter than ours, so its report comes before we give up.
  auto bound = answer_timeout() / 2;
  std::optional<health_report> report;
  ask(node_.system(), node_.guardian(), answer_timeout(),
      caf::make_message(health_atom::value, std::chrono::duration_cast<caf::timespan>(bound)),
      [&](health_report& x) { report = std::move(x); });
  if (!report)
    return "the guardian did not answer within " + ms(answer_timeout());
  if (!report->failure.empty())
    return "the node failed: " + report->failure;
  if (report->silent.empty())
    return {};
  std::string silent;
  for (const auto& s : report->silent)
    silent += (silent.empty() ? "" : "; ") + s;
  return "no answer within " + ms(bound) + " from " + silent;
}

std::string service_notifier::status_line() {
  std::optional<size_t> linked;
  ask(node_.system(), node_.gateway(), answer_timeout(), caf::make_message(status_atom::value),
      [&](const std::vector<link_status>& links) {
        linked = std::count_if(links.begin(), links.end(),
                               [](const link_status& l) { return l.linked; });
      });
  auto text = "node " + node_.name() + ": " + (linked ? std::to_string(*linked) : "?") + " of " +
              std::to_string(node_.cluster().nodes.size() - 1) + " peers linked";
  for (const auto& [duty, leader] : node_.leaders()) {
    std::string role = "?";
    ask(node_.system(), leader, answer_timeout(), caf::make_message(status_atom::value),
        [&](const duty_status& x) {
          role = to_string(x.role) + " (term " + std::to_string(x.term) + ")";
        });
    text += "; duty " + duty + ": " + role;
  }
  return text;
}

} // namespace montana
