#include "actors/probe.hpp"

#include "actors/checker.hpp"
#include "actors/coro.hpp"
#include "actors/unexpected.hpp"
#include "actors/verdict_tracker.hpp"

#include <spdlog/spdlog.h>

#include <vector>

namespace montana {

namespace {

/// Checks run in rounds. After a failure of a peer known alive the next round
/// comes after `retry` rather than `interval`, so an abrupt death turns into
/// `dead` within fall * retry; a link loss starts a round at once. A peer never
/// seen alive is only declared dead at the normal pace, which leaves the dialing
/// side time to connect after a (re)start.
struct probe_state {
  static inline const char* name = "probe";

  caf::event_based_actor* self;
  probe_params params;
  verdict_tracker tracker{1, 1};
  co::signal wake;
  caf::actor checker;
  caf::actor gateway;
  std::vector<caf::actor> subscribers;
  uint64_t seq = 0;
  check_report last;
  std::string reason = "no check yet";
  bool host_check_running = false;
  co::scope coros; // last: suspended frames go before what they use

  explicit probe_state(caf::event_based_actor* self) : self(self), coros(self) {}

  void init(probe_params p) {
    params = std::move(p);
    tracker = verdict_tracker{params.settings.rise, params.settings.fall};
    last.node = params.peer.name;
  }

  verdict_changed current() const { return {params.peer.name, tracker.value(), reason}; }

  void publish() {
    spdlog::info("[{}] probe {}: {} ({})", params.self, params.peer.name,
                 to_string(tracker.value()), reason);
    for (auto& s : subscribers)
      self->send(s, current());
  }

  void subscribe(caf::actor who) {
    self->send(who, current());
    subscribers.push_back(std::move(who));
  }

  void on_link_up(const link_up& x) {
    if (x.node != params.peer.name)
      return;
    gateway = x.gateway;
    wake.notify();
  }

  void on_link_down(const link_down& x) {
    if (x.node != params.peer.name)
      return;
    gateway = nullptr;
    reason = "link down: " + x.reason;
    wake.notify();
  }

  void on_heard() {
    reason = "heard from it directly";
    if (tracker.force_alive())
      publish();
  }

  /// Host checks always run so operators see them; they decide only in `host` mode.
  /// At most one is in flight: the worker blocks for up to `timeout` per round.
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
              r.node = params.peer.name;
              last = std::move(r);
            },
            [this](caf::error&) { host_check_running = false; });
  }

  co::task run(co::scope& coros) {
    for (;;) {
      bool ok = false;
      auto t = params.settings.timeout;
      if (params.settings.checks == check_mode::host) {
        auto report =
            co_await co::request<check_report>(coros, checker, t + t, check_atom::value,
                                               params.peer.host, static_cast<int64_t>(t.count()));
        if (report) {
          report->node = params.peer.name;
          last = std::move(*report);
        }
        ok = report && host_alive(last);
        reason = ok ? "host answers" : "no answer to ICMP, 22 or 443";
      } else if (!gateway) {
        start_host_check();
        reason = "no link";
      } else {
        start_host_check();
        auto id = ++seq;
        auto question = ping{params.self, id};
        auto answer = co_await co::request<pong>(coros, gateway, t, question);
        ok = answer && answer->node == params.peer.name && answer->seq == id;
        if (ok)
          reason = "service answers";
        else if (!answer)
          reason = "ping: " + to_string(answer.error());
        else
          reason = "ping answered by " + answer->node;
      }
      if (tracker.observe(ok))
        publish();
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
        drop_unexpected(self, st.params.self + " probe " + st.params.peer.name);
        self->send(st.params.peer_actor, subscribe_atom::value, caf::actor{self});
        st.run(st.coros);
        return {
            [self](subscribe_atom, caf::actor who) { self->state.subscribe(std::move(who)); },
            [self](const link_up& x) { self->state.on_link_up(x); },
            [self](const link_down& x) { self->state.on_link_down(x); },
            [self](const heard&) { self->state.on_heard(); },
        };
      },
      std::move(params));
}

} // namespace montana
