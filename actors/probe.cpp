#include "actors/probe.hpp"

#include "actors/checker.hpp"
#include "actors/coro.hpp"
#include "actors/introspection.hpp"
#include "actors/unexpected.hpp"
#include "actors/verdict_tracker.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <map>
#include <vector>

namespace montana {

namespace {

/// Rounds kept for `probes PEER`.
constexpr size_t history_size = 32;

/// Checks run in rounds. After a failure of a peer known alive the next round
/// comes after `retry` rather than `interval`, so an abrupt death turns into
/// `dead` within fall * retry; a link loss starts a round at once. A peer never
/// seen alive is only declared dead at the normal pace, which leaves the dialing
/// side time to connect after a (re)start. Before the failure that would make the
/// peer dead, the probe asks every other linked node whether it still has a link to
/// the peer (probe_req, all at once, within `timeout`): if one does, the failure
/// does not count (a cut link, or a peer that has not dialed us yet, is not death).
struct probe_state {
  static inline const char* name = "probe";

  caf::event_based_actor* self;
  probe_params params;
  verdict_tracker tracker{1, 1};
  co::signal wake;
  caf::actor checker;
  caf::actor gateway;
  /// Every linked node's gateway (the peer's included): whom to ask before judging it dead.
  std::map<std::string, caf::actor> gateways;
  /// The indirect probe in flight: its number, answers still due, who still sees the peer.
  uint64_t vouch_round = 0;
  size_t vouches_due = 0;
  std::vector<std::string> vouchers;
  co::signal vouched;
  std::vector<caf::actor> subscribers;
  uint64_t seq = 0;
  /// Latest results of every check, service and host.
  check_report last;
  bool have_host_report = false;
  std::string reason = "no check yet";
  std::string link_reason = "no link yet";
  bool host_check_running = false;
  caf::actor_clock::time_point started;
  actor_counters counters;
  std::deque<probe_sample> history;
  uint64_t rounds = 0;
  uint64_t failures = 0;
  /// When the verdict last changed (wall clock).
  int64_t since_us = 0;
  co::scope coros; // last: suspended frames go before what they use

  explicit probe_state(caf::event_based_actor* self) : self(self), coros(self) {}

  void init(probe_params p) {
    params = std::move(p);
    tracker = verdict_tracker{params.settings.rise, params.settings.fall};
    last.node = params.peer.name;
    started = self->clock().now();
  }

  verdict_changed current() const { return {params.peer.name, tracker.value(), reason}; }

  void publish() {
    since_us = unix_us();
    spdlog::info("[{}] probe {}: {} ({})", params.self, params.peer.name,
                 to_string(tracker.value()), reason);
    for (auto& s : subscribers)
      self->send(s, current());
  }

  void subscribe(caf::actor who) {
    self->send(who, current());
    subscribers.push_back(std::move(who));
  }

  std::string tag() const { return params.self + " probe " + params.peer.name; }

  probe_status status(bool with_history) const {
    probe_status out;
    out.node = params.peer.name;
    out.value = tracker.value();
    out.reason = reason;
    out.linked = static_cast<bool>(gateway);
    out.since_us = since_us;
    out.host_checked = have_host_report;
    out.host_answers = have_host_report && host_alive(last);
    out.host_detail = last.detail;
    out.rounds = rounds;
    out.failures = failures;
    if (with_history)
      out.history.assign(history.begin(), history.end());
    return out;
  }

  actor_info info() const {
    auto out = describe_actor(self, tag(), "probe", counters);
    out.state = {
        {"peer", params.peer.name + " (" + params.peer.host + ")"},
        {"verdict", to_string(tracker.value()) + " (" + reason + ")"},
        {"linked", gateway ? "yes" : "no"},
        {"checks",
         fmt::format("{} every {} ms (timeout {} ms, retry {} ms, rise {}, "
                     "fall {})",
                     params.settings.checks == check_mode::service ? "service" : "host",
                     params.settings.interval.count(), params.settings.timeout.count(),
                     params.settings.retry.count(), params.settings.rise, params.settings.fall)},
        {"rounds", std::to_string(rounds) + ", " + std::to_string(failures) + " failed"},
        {"host", !have_host_report  ? "not checked yet"
                 : host_alive(last) ? "answers"
                                    : "does not answer (" + last.detail + ")"}};
    return out;
  }

  void note_round(bool ok, caf::actor_clock::time_point began) {
    ++rounds;
    failures += ok ? 0 : 1;
    auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(self->clock().now() - began);
    history.push_back(probe_sample{unix_us(), ok, rtt.count(), tracker.value(), reason});
    if (history.size() > history_size)
      history.pop_front();
  }

  /// A reload: new timings from the next round on (this one is cut short).
  void retime(const probe_timing& x) {
    auto& st = params.settings;
    st.interval = duration{x.interval_ms};
    st.timeout = duration{x.timeout_ms};
    st.retry = duration{x.retry_ms};
    st.checks = x.checks;
    st.rise = x.rise;
    st.fall = x.fall;
    params.unknown_grace = duration{x.unknown_grace_ms};
    tracker.retune(x.rise, x.fall);
    wake.notify();
  }

  void on_link_up(const link_up& x) {
    gateways[x.node] = x.gateway;
    if (x.node != params.peer.name)
      return;
    gateway = x.gateway;
    wake.notify();
  }

  void on_link_down(const link_down& x) {
    gateways.erase(x.node);
    if (x.node != params.peer.name)
      return;
    gateway = nullptr;
    link_reason = "link down: " + x.reason;
    wake.notify();
  }

  /// This node's network came back: what it saw while cut off says nothing about the peer, which
  /// is judged afresh, with the grace of a peer never seen (it may not have dialed us yet).
  void on_network(const network_changed& x) {
    if (!x.up)
      return;
    started = self->clock().now();
    reason = "network back: judged afresh";
    if (tracker.reset())
      publish();
    wake.notify();
  }

  /// Asks every other linked node at once whether it still has a link to the peer; resumes
  /// `vouched` at the first yes or the last answer. Returns how many were asked.
  size_t ask_others() {
    auto round = ++vouch_round;
    vouchers.clear();
    vouches_due = 0;
    vouched.reset();
    auto t = params.settings.timeout;
    for (const auto& [node, gw] : gateways) {
      if (node == params.peer.name)
        continue;
      ++vouches_due;
      auto question = probe_req{params.self, params.peer.name};
      self->request(gw, t, question)
          .then(
              [this, round, node = node](probe_ack& a) {
                if (round != vouch_round)
                  return;
                if (a.alive && a.target == params.peer.name)
                  vouchers.push_back(node);
                if (--vouches_due == 0 || !vouchers.empty())
                  vouched.notify();
              },
              [this, round](caf::error&) {
                if (round == vouch_round && --vouches_due == 0)
                  vouched.notify();
              });
    }
    return vouches_due;
  }

  void on_heard() {
    reason = "heard from it directly";
    if (tracker.force_alive())
      publish();
  }

  /// Keeps the latest host checks; a change of "host answers" is logged, so a dead
  /// service on a live host (or the reverse) is visible in service mode too.
  void record_host(check_report r) {
    r.node = params.peer.name;
    r.service = last.service;
    auto answered = host_alive(r);
    // The first report is news only when the host does not answer.
    if (have_host_report ? answered != host_alive(last) : !answered)
      spdlog::info("[{}] probe {}: host {} ({})", params.self, params.peer.name,
                   answered ? "answers" : "does not answer",
                   r.detail.empty() ? "all checks ok" : r.detail);
    have_host_report = true;
    last = std::move(r);
  }

  /// Host checks always run; they decide only in `host` mode. At most one is in
  /// flight: the worker blocks for up to `timeout` per round.
  void start_host_check() {
    if (host_check_running)
      return;
    host_check_running = true;
    auto t = params.settings.timeout;
    self->request(checker, t + t, check_atom::value, params.peer.host,
                  static_cast<int64_t>(t.count()))
        .then(
            [this](check_report& r) {
              host_check_running = false;
              record_host(std::move(r));
            },
            [this](caf::error&) { host_check_running = false; });
  }

  co::task run(co::scope& coros) {
    for (;;) {
      bool ok = false;
      // No answer over a link that is still up: suspect at most (see verdict_tracker).
      bool unanswered = false;
      auto t = params.settings.timeout;
      auto began = self->clock().now();
      if (params.settings.checks == check_mode::host) {
        auto report =
            co_await co::request<check_report>(coros, checker, t + t, check_atom::value,
                                               params.peer.host, static_cast<int64_t>(t.count()));
        if (report)
          record_host(std::move(*report));
        ok = report && host_alive(last);
        reason = ok ? "host answers" : "no answer to ICMP, 22 or 443";
      } else if (!gateway) {
        start_host_check();
        reason = link_reason;
      } else {
        start_host_check();
        auto id = ++seq;
        auto question = ping{params.self, id};
        auto answer = co_await co::request<pong>(coros, gateway, t, question);
        ok = answer && answer->node == params.peer.name && answer->seq == id;
        // Only a timeout over a link still up after the wait; any other error (the receiver
        // is gone) or a link lost meanwhile is an ordinary failure.
        unanswered = !answer && answer.error() == caf::sec::request_timeout && gateway;
        if (ok)
          reason = "service answers";
        else if (!answer)
          reason = "ping: " + to_string(answer.error()) + (unanswered ? " (still linked)" : "");
        else
          reason = "ping answered by " + answer->node;
      }
      if (params.settings.checks == check_mode::service)
        last.service = ok ? check_status::ok : check_status::failed;
      // A peer not seen since we started may simply not have dialed us yet (only the
      // higher node of a pair dials): it is not judged dead within the grace.
      auto in_grace = tracker.value() == verdict::unknown &&
                      self->clock().now() < started + params.unknown_grace;
      // Before the last step to dead: does any other node still see it? (A link cut between
      // the two of us only, or a peer that has not reached us yet, is not death.)
      if (!ok && !unanswered && !in_grace && tracker.would_fall() && ask_others() > 0) {
        co_await vouched.wait(coros, t);
        if (!vouchers.empty()) {
          unanswered = true;
          reason += "; " + vouchers.front() + " still sees it";
        } else if (gateway) {
          unanswered = true; // it linked again while we asked: the next round decides
        }
        ++vouch_round; // answers still on the way are for a finished round
      }
      if (!(in_grace && !ok) && (unanswered ? tracker.observe_unanswered() : tracker.observe(ok)))
        publish();
      note_round(ok, began);
      auto v = tracker.value();
      auto failing_known_peer = !ok && (v == verdict::alive || v == verdict::suspect);
      co_await wake.wait(coros,
                         failing_known_peer ? params.settings.retry : params.settings.interval);
      wake.reset();
    }
  }
};

} // namespace

caf::actor spawn_probe(caf::actor_system& sys, probe_params params) {
  return sys.spawn(
      [](caf::stateful_actor<probe_state>* self, probe_params p) -> caf::behavior {
        auto& st = self->state;
        st.init(std::move(p));
        st.checker = spawn_checker(self->system(), st.params.checks, st.params.detached_checks);
        self->link_to(st.checker);
        drop_unexpected(self, st.tag(), st.counters);
        self->send(st.params.peer_actor, subscribe_atom::value, caf::actor{self});
        st.run(st.coros);
        return counted(
            st.counters,
            [self](subscribe_atom, caf::actor who) { self->state.subscribe(std::move(who)); },
            [self](const link_up& x) { self->state.on_link_up(x); },
            [self](const link_down& x) { self->state.on_link_down(x); },
            [self](const network_changed& x) { self->state.on_network(x); },
            [self](const heard&) { self->state.on_heard(); },
            [self](const probe_timing& x) { self->state.retime(x); },
            [self](status_atom) { return self->state.status(true); },
            [self](inspect_atom) { return self->state.info(); });
      },
      std::move(params));
}

} // namespace montana
