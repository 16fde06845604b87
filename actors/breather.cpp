#include "actors/breather.hpp"

#include "actors/coro.hpp"
#include "actors/introspection.hpp"
#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <exception>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace montana {

namespace {

/// Runs one port call; a failure becomes an error whose context is its one-line reason.
template <class F>
auto attempt(F f) -> caf::result<decltype(f())> {
  try {
    return f();
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
  }
}

/// The git worker: owns the port and performs one step per request, blocking. Network steps
/// get their limit in milliseconds.
caf::behavior breath_worker(caf::event_based_actor*, breath_port_ptr port) {
  return {
      [port](prepare_atom) { return attempt([&] { return port->prepare(); }); },
      [port](exhale_atom, const std::string& message, const std::string& utc, sync_mode mode) {
        return attempt([&] { return port->exhale(message, utc, mode); });
      },
      [port](fetch_atom, int64_t limit_ms) {
        return attempt([&] { return port->fetch(std::chrono::milliseconds{limit_ms}); });
      },
      [port](inhale_atom, const std::string& utc, sync_mode mode) {
        return attempt([&] { return port->inhale(utc, mode); });
      },
      [port](push_atom, int64_t limit_ms) {
        return attempt([&] { return port->push(std::chrono::milliseconds{limit_ms}); });
      },
      [port](ahead_atom) { return attempt([&] { return port->ahead(); }); },
  };
}

/// A hand-over breath asked for by a chain-leader.
struct handover_request {
  handover_breath what;
  caf::response_promise rp;
};

/// Broken-down UTC time of `unix_us`.
std::tm utc_of(int64_t unix_us) {
  auto seconds = static_cast<std::time_t>(unix_us / 1000000);
  std::tm out{};
  ::gmtime_r(&seconds, &out);
  return out;
}

std::string format_utc(int64_t unix_us, const char* pattern) {
  auto tm = utc_of(unix_us);
  char text[32];
  auto n = std::strftime(text, sizeof text, pattern, &tm);
  return std::string(text, n);
}

std::string ms(int64_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", static_cast<double>(us) / 1000.0);
  return text;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

void append(std::vector<std::string>& to, const std::vector<std::string>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

struct breather_state {
  static inline const char* name = "breather";

  caf::event_based_actor* self;
  breather_params params;
  caf::actor worker;
  std::deque<breath_report> history;
  uint64_t seq = 0;
  /// Failed breaths in a row: the backoff exponent.
  int failures = 0;
  /// Same-key conflicts since start.
  uint64_t conflicts_total = 0;
  /// Whether the clone must be (re)opened and repaired before the next breath.
  bool need_prepare = true;
  /// `breathe` requests for the next breath, and for the one running.
  std::vector<caf::response_promise> asked;
  std::vector<caf::response_promise> answering;
  /// Raised by a `breathe` or hand-over request: cuts the pause short.
  co::signal now;
  /// Duties whose process runs on this node: they own the synced working files.
  std::set<std::string> holding;
  /// Hand-over breaths asked for, and those the running breath serves.
  std::vector<handover_request> handovers_asked;
  std::vector<handover_request> handovers_answering;
  /// Whether the running breath is in a fetch or push, and whether a hand-over cut it short.
  bool in_transfer = false;
  bool cut_short = false;
  uint64_t handovers = 0;
  uint64_t handover_failures = 0;
  uint64_t broken_breaths = 0;
  actor_counters counters;
  std::vector<caf::actor> subscribers;
  uint64_t breaths = 0;
  uint64_t failed_breaths = 0;
  std::vector<uint64_t> buckets = std::vector<uint64_t>(breath_buckets_ms.size() + 1, 0);
  int64_t total_us = 0;
  int64_t last_ok_us = 0;
  co::scope coros; // last: suspended frames go before what they use

  explicit breather_state(caf::event_based_actor* self) : self(self), coros(self) {}

  const std::string& node() const { return params.node; }

  /// How long the breather waits for a local step: the network bound plus a minute.
  caf::timespan local_timeout() const {
    return params.settings.step_timeout + std::chrono::minutes{1};
  }

  /// Who owns the synced working files now (a releasing breath passes `releasing`).
  sync_mode mode(bool releasing) const {
    if (!holding.empty())
      return sync_mode::hold;
    return releasing ? sync_mode::release : sync_mode::follow;
  }

  /// A hand-over breath is waiting: a regular breath in a fetch or push gives way at once.
  void handover_asked(handover_request request) {
    handovers_asked.push_back(std::move(request));
    if (in_transfer && handovers_answering.empty()) {
      cut_short = true;
      params.port->interrupt();
    }
    now.notify();
  }

  /// A step's error as one line.
  std::string reason(const caf::error& err) const {
    if (err == caf::sec::request_timeout)
      return "no answer within " +
             ms(std::chrono::duration_cast<std::chrono::microseconds>(local_timeout()).count()) +
             " ms (the git worker is still busy)";
    const auto& context = err.context();
    if (context.match_elements<std::string>())
      return context.get_as<std::string>(0);
    return self->system().render(err);
  }

  int64_t since(caf::actor_clock::time_point start) const {
    return std::chrono::duration_cast<std::chrono::microseconds>(self->clock().now() - start)
        .count();
  }

  breath_status status() const {
    breath_status out;
    out.enabled = true;
    out.interval_ms = params.settings.interval.count();
    out.breaths = breaths;
    out.failures = failed_breaths;
    out.conflicts = conflicts_total;
    out.buckets = buckets;
    out.total_us = total_us;
    out.last_ok_us = last_ok_us;
    if (!history.empty())
      out.last = history.back();
    out.handovers = handovers;
    out.handover_failures = handover_failures;
    out.broken = broken_breaths;
    return out;
  }

  actor_info info() const {
    auto out = describe_actor(self, node() + " breather", "breather", counters);
    out.state = {
        {"repo", params.settings.repo},
        {"breaths", std::to_string(breaths) + ", " + std::to_string(failed_breaths) + " failed, " +
                        std::to_string(failures) + " failed in a row"},
        {"last breath", history.empty() ? "none yet" : describe(history.back())},
        {"next breath in", std::to_string(breath_delay(params.settings, failures).count()) +
                               " ms after the last one"},
        {"conflicts", std::to_string(conflicts_total) + " since start"},
        {"synced files", holding.empty()
                             ? std::string{"follow the remote"}
                             : "held by the running duty " +
                                   join(std::vector<std::string>(holding.begin(), holding.end()))},
        {"hand-over breaths",
         std::to_string(handovers) + ", " + std::to_string(handover_failures) + " failed"}};
    return out;
  }

  /// Logs `report`, keeps it in the history and answers whoever asked for it.
  void record(breath_report report, sync_mode mode) {
    conflicts_total += report.conflicts.size();
    report.conflicts_total = conflicts_total;
    ++breaths;
    total_us += report.total_us;
    auto bucket = std::find_if(breath_buckets_ms.begin(), breath_buckets_ms.end(),
                               [&](int64_t bound) { return report.total_us <= bound * 1000; });
    ++buckets[static_cast<size_t>(bucket - breath_buckets_ms.begin())];
    if (report.ok)
      last_ok_us = report.started_us;
    else {
      ++failed_breaths;
      ++counters.errors;
    }
    if (!report.broken.empty())
      ++broken_breaths;
    if (!report.handover.empty()) {
      ++handovers;
      if (!report.ok) {
        ++handover_failures;
        spdlog::warn("[{}] hand-over breath ({}) failed at {}: {}; the hand-over goes on with "
                     "the data this node has",
                     node(), report.handover, report.failed_step, report.error);
      }
    }
    auto event =
        node_event{unix_us(), node(), event_kind::breath, params.settings.repo, describe(report)};
    for (auto& s : subscribers)
      self->send(s, event);
    if (report.ok) {
      failures = 0;
      spdlog::info("[{}] {}", node(), describe(report));
    } else if (std::exchange(cut_short, false)) {
      spdlog::info("[{}] {}", node(), describe(report)); // gave way to a hand-over breath
    } else {
      ++failures;
      need_prepare = true;
      spdlog::warn("[{}] {}; next breath in {} s", node(), describe(report),
                   breath_delay(params.settings, failures).count() / 1000.0);
    }
    if (!report.restored.empty())
      spdlog::warn("[{}] breath {}: {} did not parse: put back to the last good version", node(),
                   report.seq, join(report.restored));
    else if (!report.broken.empty())
      spdlog::warn("[{}] breath {}: {} did not parse: not committed", node(), report.seq,
                   join(report.broken));
    if (!report.conflicts.empty())
      spdlog::warn("[{}] breath {}: conflict in {}: {} values kept{} ({} since start)", node(),
                   report.seq, join(report.conflicts),
                   mode == sync_mode::follow ? "the remote's" : "this node's duty's",
                   report.copies.empty() ? std::string{} : ", the others in " + join(report.copies),
                   report.conflicts_total);
    for (auto& rp : answering)
      rp.deliver(report);
    answering.clear();
    for (auto& h : handovers_answering)
      h.rp.deliver(report);
    handovers_answering.clear();
    history.push_back(std::move(report));
    while (history.size() > static_cast<std::size_t>(std::max(1, params.settings.history)))
      history.pop_front();
  }
};

/// The breather's life: pause, breathe, record, forever. A hand-over breath runs as soon as it
/// is asked for, bounded by `handover_timeout`: a releasing one commits with its duty's writes
/// winning, then lets the files follow the remote; a taking one hands the files to its duty
/// once the breath is over (went through or not).
co::task run(co::scope& coros, breather_state& st) {
  const auto& cfg = st.params.settings;
  for (;;) {
    if (!st.now.notified() && st.seq > 0)
      co_await st.now.wait(coros, breath_delay(cfg, st.failures));
    st.now.reset();
    st.answering = std::move(st.asked);
    st.asked.clear();
    st.handovers_answering = std::move(st.handovers_asked);
    st.handovers_asked.clear();
    breath_report r;
    r.seq = ++st.seq;
    r.started_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    const auto started = st.self->clock().now();
    const auto utc = compact_utc(r.started_us);
    bool releasing = false;
    for (const auto& h : st.handovers_answering) {
      r.handover += (r.handover.empty() ? "" : ", ") +
                    std::string{h.what.taking ? "taking " : "releasing "} + h.what.duty;
      if (!h.what.taking) {
        st.holding.erase(h.what.duty);
        releasing = true;
      }
    }
    const auto mode = st.mode(releasing);
    // A hand-over breath has one deadline for all its network steps.
    std::optional<caf::actor_clock::time_point> deadline;
    if (!st.handovers_answering.empty())
      deadline = started + cfg.handover_timeout;
    auto network_limit = [&]() -> caf::timespan {
      caf::timespan limit = cfg.step_timeout;
      if (deadline)
        limit = std::min(limit, std::max<caf::timespan>(*deadline - st.self->clock().now(),
                                                        std::chrono::milliseconds{1}));
      return limit;
    };
    auto limit_ms = [](caf::timespan d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    std::string failed;
    caf::error error;
    do {
      if (st.need_prepare) {
        auto repaired = co_await co::request<std::string>(coros, st.worker, st.local_timeout(),
                                                          prepare_atom::value);
        if (!repaired) {
          failed = "prepare";
          error = repaired.error();
          break;
        }
        r.repaired = *repaired;
        st.need_prepare = false;
      }
      auto message = breath_message(st.node(), r.started_us);
      auto step = st.self->clock().now();
      auto exhaled = co_await co::request<exhale_result>(coros, st.worker, st.local_timeout(),
                                                         exhale_atom::value, message, utc, mode);
      r.exhale_us = st.since(step);
      if (!exhaled) {
        failed = "exhale";
        error = exhaled.error();
        break;
      }
      append(r.conflicts, exhaled->conflicts);
      append(r.copies, exhaled->copies);
      append(r.broken, exhaled->broken);
      append(r.restored, exhaled->restored);
      r.files_read = exhaled->files_read;
      bool done = false;
      while (!done && r.push_attempts < static_cast<uint32_t>(std::max(1, cfg.push_attempts))) {
        step = st.self->clock().now();
        auto limit = network_limit();
        st.in_transfer = true;
        auto fetched = co_await co::request<uint64_t>(
            coros, st.worker, limit + std::chrono::seconds{5}, fetch_atom::value, limit_ms(limit));
        st.in_transfer = false;
        r.fetch_us += st.since(step);
        if (!fetched) {
          failed = "fetch";
          error = fetched.error();
          break;
        }
        r.commits_in += *fetched;
        step = st.self->clock().now();
        auto inhaled = co_await co::request<inhale_result>(coros, st.worker, st.local_timeout(),
                                                           inhale_atom::value, utc, mode);
        r.inhale_us += st.since(step);
        if (!inhaled) {
          failed = "inhale";
          error = inhaled.error();
          break;
        }
        append(r.conflicts, inhaled->conflicts);
        append(r.copies, inhaled->copies);
        append(r.broken, inhaled->broken);
        step = st.self->clock().now();
        auto ahead =
            co_await co::request<uint64_t>(coros, st.worker, st.local_timeout(), ahead_atom::value);
        if (!ahead) {
          r.push_us += st.since(step);
          failed = "push";
          error = ahead.error();
          break;
        }
        if (*ahead == 0) {
          r.push_us += st.since(step);
          done = true;
          break;
        }
        ++r.push_attempts;
        limit = network_limit();
        st.in_transfer = true;
        auto pushed = co_await co::request<push_result>(
            coros, st.worker, limit + std::chrono::seconds{5}, push_atom::value, limit_ms(limit));
        st.in_transfer = false;
        r.push_us += st.since(step);
        if (!pushed) {
          failed = "push";
          error = pushed.error();
          r.pending = *ahead;
          break;
        }
        if (pushed->pushed) {
          r.commits_out = pushed->commits;
          r.pending = 0;
          done = true;
        } else {
          r.pending = *ahead;
        }
      }
      if (failed.empty() && !done) {
        failed = "push";
        r.error = "refused as non-fast-forward " + std::to_string(r.push_attempts) +
                  " times (others pushed meanwhile)";
      }
    } while (false);
    if (!failed.empty() && failed != "prepare" && error != caf::sec::request_timeout &&
        r.pending == 0) {
      // Local commits stay for the next breath; say how many.
      auto ahead =
          co_await co::request<uint64_t>(coros, st.worker, st.local_timeout(), ahead_atom::value);
      if (ahead)
        r.pending = *ahead;
    }
    r.total_us = st.since(started);
    r.ok = failed.empty();
    if (!r.ok) {
      r.failed_step = failed;
      if (r.error.empty())
        r.error = st.reason(error);
    }
    // The files belong to a starting duty once its breath is over, whatever it achieved.
    for (const auto& h : st.handovers_answering)
      if (h.what.taking)
        st.holding.insert(h.what.duty);
    st.record(std::move(r), mode);
  }
}

} // namespace

duration breath_delay(const breath_settings& settings, int failures) {
  auto delay = settings.interval;
  for (int i = 0; i < failures && delay < settings.backoff_max; ++i)
    delay *= 2;
  return std::max(settings.interval, std::min(delay, settings.backoff_max));
}

std::string breath_message(const std::string& node, int64_t unix_us) {
  return "[sync] breathing " + node + " " + format_utc(unix_us, "%Y-%m-%dT%H:%M:%SZ");
}

std::string compact_utc(int64_t unix_us) {
  return format_utc(unix_us, "%Y%m%dT%H%M%SZ");
}

std::string describe(const breath_report& r) {
  std::string line = "breath " + std::to_string(r.seq) + ": ";
  if (!r.handover.empty())
    line = "breath " + std::to_string(r.seq) + " (hand-over: " + r.handover + "): ";
  line += r.ok ? "ok" : "failed at " + r.failed_step;
  line += " in " + ms(r.total_us) + " ms (exhale " + ms(r.exhale_us) + ", fetch " + ms(r.fetch_us) +
          ", inhale " + ms(r.inhale_us) + ", push " + ms(r.push_us) + " ms), " +
          std::to_string(r.commits_in) + " in, " + std::to_string(r.commits_out) + " out";
  if (r.push_attempts > 1)
    line += ", " + std::to_string(r.push_attempts) + " pushes";
  if (!r.conflicts.empty())
    line += ", " + std::to_string(r.conflicts.size()) + " conflicts";
  if (r.pending > 0)
    line += ", " + std::to_string(r.pending) + " local commits kept for later";
  if (!r.broken.empty())
    line += "; did not parse: " + join(r.broken);
  if (!r.restored.empty())
    line += "; put back to the last good version: " + join(r.restored);
  if (!r.repaired.empty())
    line += "; repaired: " + r.repaired;
  if (!r.ok)
    line += ": " + r.error;
  return line;
}

caf::actor spawn_breather(caf::actor_system& sys, breather_params params) {
  return sys.spawn(
      [](caf::stateful_actor<breather_state>* self, breather_params p) -> caf::behavior {
        auto& st = self->state;
        st.params = std::move(p);
        st.worker =
            st.params.detached
                ? self->system().spawn<caf::detached + caf::hidden>(breath_worker, st.params.port)
                : self->system().spawn<caf::hidden>(breath_worker, st.params.port);
        self->link_to(st.worker);
        // A fetch or push stuck on the remote must not hold the worker (and the node's stop).
        self->attach_functor([port = st.params.port] { port->interrupt(); });
        drop_unexpected(self, st.node() + " breather", st.counters);
        run(st.coros, st);
        return counted(
            st.counters,
            [self](history_atom) {
              const auto& h = self->state.history;
              return std::vector<breath_report>(h.begin(), h.end());
            },
            [self](breathe_atom) {
              auto rp = self->make_response_promise();
              self->state.asked.push_back(rp);
              self->state.now.notify();
              return rp;
            },
            [self](const handover_breath& x) {
              auto rp = self->make_response_promise();
              self->state.handover_asked(handover_request{x, rp});
              return rp;
            },
            [self](status_atom) { return self->state.status(); },
            [self](inspect_atom) { return self->state.info(); },
            [self](subscribe_atom, caf::actor who) {
              self->state.subscribers.push_back(std::move(who));
            });
      },
      std::move(params));
}

} // namespace montana
