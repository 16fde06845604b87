#define CAF_SUITE actors.probe
#include "caf/test/dsl.hpp"

#include "actors/probe.hpp"
#include "tests/support/virtual_time.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace montana;
using namespace std::chrono_literals;

namespace {

struct config : caf::actor_system_config {
  config() { register_messages(*this); }
};

using events = std::vector<std::string>;
using time_point = caf::actor_clock::time_point;

/// Milliseconds of virtual time since `start`, the unit every assertion below speaks.
long long ms_since(time_point start, time_point now) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count();
}

const auto ok = check_status::ok;
const auto failed = check_status::failed;
const auto unavailable = check_status::unavailable;

/// Host checks that answer what the test set, at once; the probe's checker runs them on the test
/// scheduler, so there is no other thread.
class fake_checks final : public net_checks {
public:
  check_status tcp(const std::string&, uint16_t, duration, std::string& detail) override {
    detail = "the probe never asks for a single port";
    return unavailable;
  }

  check_report host(const std::string& host, duration timeout) override {
    calls.push_back(host + " within " + std::to_string(timeout.count()) + " ms");
    auto report = next;
    report.node = "whatever the checker says"; // the probe must name the peer itself
    return report;
  }

  void answer(check_status icmp, check_status tcp22, check_status tcp443) {
    next.icmp = icmp;
    next.tcp22 = tcp22;
    next.tcp443 = tcp443;
  }

  check_report next{"", unavailable, failed, failed, failed, "host down"};
  events calls;
};

/// This node's peer actor as far as a probe cares: it only learns who subscribes.
caf::behavior fake_peer(std::shared_ptr<std::vector<caf::actor>> subscribers) {
  return {
      [subscribers](subscribe_atom, caf::actor who) { subscribers->push_back(std::move(who)); },
  };
}

/// The remote node's gateway: answers pings while `answering`, else leaves them pending forever
/// (a frozen node), so the probe's own timeout has to decide.
struct gateway_log {
  bool answering = true;
  std::vector<long long> pings; // virtual ms at arrival
  std::vector<ping> received;
  std::vector<caf::response_promise> unanswered;
};

caf::behavior fake_gateway(caf::event_based_actor* self, std::shared_ptr<gateway_log> log,
                           std::string node, time_point start) {
  return {
      [=](const ping& x) {
        log->pings.push_back(ms_since(start, self->clock().now()));
        log->received.push_back(x);
        auto rp = self->make_response_promise();
        if (log->answering)
          rp.deliver(pong{node, x.seq});
        else
          log->unanswered.push_back(rp);
        return rp;
      },
  };
}

/// Another linked node, asked whether it still sees the peer: answers `sees` while `answering`.
struct witness_log {
  bool sees = true;
  bool answering = true;
  std::vector<long long> asked; // virtual ms at arrival
  std::vector<probe_req> received;
  std::vector<caf::response_promise> unanswered;
};

caf::behavior fake_witness(caf::event_based_actor* self, std::shared_ptr<witness_log> log,
                           std::string node, time_point start) {
  return {
      [=](const probe_req& x) {
        log->asked.push_back(ms_since(start, self->clock().now()));
        log->received.push_back(x);
        auto rp = self->make_response_promise();
        if (log->answering)
          rp.deliver(probe_ack{node, x.target, log->sees});
        else
          log->unanswered.push_back(rp);
        return rp;
      },
  };
}

/// A subscriber: each verdict_changed becomes "verdict@ms"; reasons are kept apart.
struct verdict_log {
  events seen;
  std::vector<verdict_changed> messages;
};

caf::behavior recorder(caf::event_based_actor* self, std::shared_ptr<verdict_log> log,
                       time_point start) {
  return {
      [=](const verdict_changed& x) {
        log->seen.push_back(to_string(x.value) + "@" +
                            std::to_string(ms_since(start, self->clock().now())));
        log->messages.push_back(x);
      },
  };
}

struct fixture : test_coordinator_fixture<config> {
  fixture() {
    settings.interval = 1000ms;
    settings.timeout = 200ms;
    settings.retry = 100ms;
    settings.rise = 2;
    settings.fall = 3;
    peer_actor = spawn(fake_peer, subscribed);
    gateway = spawn(fake_gateway, gw, std::string{"moscow"}, t0);
    subscriber = spawn(recorder, verdicts, t0);
  }

  ~fixture() override {
    // Actors hold the logs and the fake checks: end them all before the members go. The probe
    // takes its linked checker with it.
    spawned.end_all(*this);
  }

  template <class... Ts>
  caf::actor spawn(Ts&&... xs) {
    return spawned.add(sys.spawn(std::forward<Ts>(xs)...));
  }

  /// Spawns the probe of moscow (the first check runs at once, at 0 ms) and subscribes the
  /// recorder.
  void start(check_mode mode = check_mode::service, duration unknown_grace = duration{0}) {
    settings.checks = mode;
    probe_params params;
    params.self = "amsterdam";
    params.peer.name = "moscow";
    params.peer.host = "10.0.0.2";
    params.settings = settings;
    params.peer_actor = peer_actor;
    params.unknown_grace = unknown_grace;
    params.checks = checks;
    params.detached_checks = false;
    probe = spawn_probe(sys, std::move(params));
    spawned.add(probe);
    consume_messages();
    send(subscribe_atom::value, subscriber);
  }

  template <class... Ts>
  void send(Ts&&... xs) {
    caf::anon_send(probe, std::forward<Ts>(xs)...);
    consume_messages();
  }

  void link_up_now() { send(link_up{"moscow", gateway}); }

  /// almaty linked, with a witness that answers as `w` says.
  void witness_up() { send(link_up{"almaty", spawn(fake_witness, w, std::string{"almaty"}, t0)}); }

  void pass(caf::timespan d) { test::pass_time(*this, d); }

  probe_settings settings;
  /// Virtual time 0 of every assertion.
  time_point t0 = sched.clock().now();
  std::shared_ptr<fake_checks> checks = std::make_shared<fake_checks>();
  std::shared_ptr<std::vector<caf::actor>> subscribed = std::make_shared<std::vector<caf::actor>>();
  std::shared_ptr<gateway_log> gw = std::make_shared<gateway_log>();
  std::shared_ptr<verdict_log> verdicts = std::make_shared<verdict_log>();
  std::shared_ptr<witness_log> w = std::make_shared<witness_log>();
  caf::actor peer_actor;
  caf::actor gateway;
  caf::actor subscriber;
  caf::actor probe;
  montana::test::spawned_actors spawned;
};

using times = std::vector<long long>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(probe_tests, fixture)

CAF_TEST(the probe subscribes to the peer actor and tells a subscriber the current verdict) {
  start();
  CAF_CHECK_EQUAL(*subscribed, std::vector<caf::actor>{probe});
  CAF_CHECK_EQUAL(verdicts->seen, events{"unknown@0"});
  CAF_REQUIRE_EQUAL(verdicts->messages.size(), 1u);
  CAF_CHECK_EQUAL(verdicts->messages[0].node, "moscow");
  CAF_CHECK_EQUAL(verdicts->messages[0].reason, "no link yet");
  // A later subscriber gets the verdict of that moment, not the history.
  link_up_now();
  auto late = std::make_shared<verdict_log>();
  send(subscribe_atom::value, spawn(recorder, late, t0));
  CAF_CHECK_EQUAL(late->seen, events{"alive@0"});
}

CAF_TEST(the first answered ping makes the peer alive at once) {
  start();
  link_up_now();
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "service answers");
  CAF_REQUIRE_EQUAL(gw->received.size(), 1u);
  CAF_CHECK_EQUAL(gw->received[0].from, "amsterdam");
}

CAF_TEST(an answered peer stays alive and is pinged once per interval) {
  start();
  link_up_now();
  pass(20s);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0"}));
  times expected;
  for (long long t = 0; t <= 20000; t += 1000)
    expected.push_back(t);
  CAF_CHECK_EQUAL(gw->pings, expected);
  // Every round asks a fresh question: an old pong cannot answer a new ping.
  for (size_t i = 1; i < gw->received.size(); ++i)
    CAF_CHECK_EQUAL(gw->received[i].seq, gw->received[i - 1].seq + 1);
}

CAF_TEST(a linked peer that stops answering is suspect and dead only once the link is lost) {
  start();
  link_up_now();
  gw->answering = false;
  pass(1199ms);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0"}));
  pass(1ms);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0", "suspect@1200"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason,
                  "ping: system_error(request_timeout) (still linked)");
  // Far more than `fall` unanswered pings, each waiting its timeout (200 ms) and the next after
  // `retry` (100 ms): while the link is up this node may be the slow one, so no verdict dead.
  pass(1250ms);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0", "suspect@1200"}));
  CAF_CHECK_EQUAL(gw->pings, (times{0, 1000, 1300, 1600, 1900, 2200}));
  // The heartbeat timeout drops the link (at 2450, between two pings): dead at once.
  send(link_down{"moscow", "remote_link_unreachable"});
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0", "suspect@1200", "dead@2450"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "link down: remote_link_unreachable");
}

CAF_TEST(a linked peer that never answers stays unknown) {
  start();
  gw->answering = false;
  link_up_now();
  pass(5s);
  CAF_CHECK_EQUAL(verdicts->seen, events{"unknown@0"});
  CAF_CHECK_GREATER(gw->pings.size(), 4u);
}

CAF_TEST(a pong from another node counts as a failure) {
  start();
  link_up_now();
  auto impostor = spawn(fake_gateway, gw, std::string{"almaty"}, t0);
  send(link_up{"moscow", impostor});
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0", "suspect@0"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "ping answered by almaty");
}

CAF_TEST(link down starts a check at once) {
  start();
  link_up_now();
  pass(500ms);
  send(link_down{"moscow", "closed"});
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0", "suspect@500"}));
  pass(1s);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0", "suspect@500", "dead@700"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "link down: closed");
  // Without a link there is nobody to ping.
  CAF_CHECK_EQUAL(gw->pings, times{0});
}

CAF_TEST(link events about another peer change nothing) {
  start();
  link_up_now();
  send(link_down{"almaty", "closed"});
  auto other = spawn(fake_gateway, std::make_shared<gateway_log>(), std::string{"almaty"}, t0);
  send(link_up{"almaty", other});
  pass(1s);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0"}));
  CAF_CHECK_EQUAL(gw->pings, (times{0, 1000}));
}

CAF_TEST(a peer never seen alive becomes dead only at interval pace) {
  start();
  pass(1999ms);
  CAF_CHECK_EQUAL(verdicts->seen, events{"unknown@0"});
  pass(1ms);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "dead@2000"}));
}

CAF_TEST(a peer never seen alive is not judged dead within the unknown grace) {
  start(check_mode::service, 4500ms);
  pass(4499ms);
  CAF_CHECK_EQUAL(verdicts->seen, events{"unknown@0"});
  // From the end of the grace the usual fall count applies: rounds at 5000, 6000, 7000.
  pass(2500ms);
  CAF_CHECK_EQUAL(verdicts->seen, events{"unknown@0"});
  pass(1ms);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "dead@7000"}));
}

CAF_TEST(a peer that dials within the unknown grace is alive at once) {
  start(check_mode::service, 4500ms);
  pass(3s);
  link_up_now();
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@3000"}));
}

CAF_TEST(heard revives a dead peer at once) {
  start();
  pass(2s);
  CAF_CHECK_EQUAL(verdicts->seen.back(), "dead@2000");
  pass(300ms);
  send(heard{"moscow"});
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "dead@2000", "alive@2300"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "heard from it directly");
  // Evidence for a peer already alive is no news.
  send(heard{"moscow"});
  CAF_CHECK_EQUAL(verdicts->seen.size(), 3u);
}

CAF_TEST(in host mode the verdict follows icmp or port 22 or port 443) {
  start(check_mode::host);
  link_up_now(); // a link and an answering gateway must not matter here
  CAF_CHECK_EQUAL(verdicts->seen, events{"unknown@0"});
  checks->answer(ok, failed, failed);
  pass(1s);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@1000"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "host answers");
  checks->answer(failed, ok, failed);
  pass(1s);
  checks->answer(unavailable, failed, ok);
  pass(1s);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@1000"}));
  checks->answer(unavailable, failed, failed);
  pass(1s);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@1000", "suspect@4000"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "no answer to ICMP, 22 or 443");
  pass(199ms);
  CAF_CHECK_EQUAL(verdicts->seen.size(), 3u);
  pass(1ms);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@1000", "suspect@4000", "dead@4200"}));
  CAF_CHECK(gw->pings.empty());
  // Two rounds at 0 (the first, and the one link_up started), four at interval pace, two at
  // retry pace; each with the peer's host and the probe's timeout.
  CAF_CHECK_EQUAL(checks->calls.size(), 8u);
  CAF_CHECK_EQUAL(checks->calls.front(), "10.0.0.2 within 200 ms");
}

CAF_TEST(in service mode host checks run but do not decide) {
  checks->answer(ok, ok, ok);
  start();
  pass(2s);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "dead@2000"}));
  CAF_CHECK_EQUAL(checks->calls.size(), 3u);
  checks->answer(failed, failed, failed);
  link_up_now();
  pass(1s);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "dead@2000", "alive@3000"}));
  CAF_CHECK_EQUAL(checks->calls.size(), 5u);
}

CAF_TEST(unexpected messages do not kill the probe) {
  start();
  auto exited = std::make_shared<std::optional<caf::error>>();
  probe->attach_functor([exited](const caf::error& reason) { *exited = reason; });
  send(std::string{"garbage"}, 42);
  send(pong{"moscow", 99}); // a stray reply
  send(caf::make_error(caf::sec::runtime_error));
  caf::error reply;
  spawn([&](caf::event_based_actor* client) {
    client->request(probe, caf::infinite, std::string{"what?"})
        .then([] {}, [&](caf::error& err) { reply = err; });
  });
  consume_messages();
  CAF_CHECK_EQUAL(reply, caf::sec::unexpected_message);
  CAF_CHECK(!exited->has_value());
  link_up_now();
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0"}));
}

CAF_TEST(a peer another node still sees is not judged dead - a cut link) {
  start();
  link_up_now();
  witness_up();
  pass(500ms);
  send(link_down{"moscow", "heartbeat timeout"});
  pass(2s);
  // Rounds at 500 and 600 fail; the one at 700 would be the last step: almaty is asked first
  // and still sees moscow, and so on every retry.
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0", "suspect@500"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "link down: heartbeat timeout");
  CAF_REQUIRE_GREATER(w->asked.size(), 10u);
  CAF_CHECK_EQUAL(w->asked.front(), 700);
  CAF_CHECK_EQUAL(w->received.front().from, "amsterdam");
  CAF_CHECK_EQUAL(w->received.front().target, "moscow");
  // almaty loses it too: dead at the next round.
  w->sees = false;
  auto asked = w->asked.size();
  pass(100ms);
  CAF_CHECK_EQUAL(w->asked.size(), asked + 1);
  CAF_CHECK_EQUAL(verdicts->seen.back(), "dead@2600");
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "link down: heartbeat timeout");
}

CAF_TEST(a witness that does not answer delays the verdict by one timeout at most) {
  start();
  link_up_now();
  witness_up();
  w->answering = false;
  pass(500ms);
  send(link_down{"moscow", "closed"});
  pass(1s);
  // Asked at 700, no answer within the probe's timeout (200 ms): dead at 900.
  CAF_CHECK_EQUAL(w->asked, (times{700}));
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0", "suspect@500", "dead@900"}));
}

CAF_TEST(a peer never seen that another node sees stays unknown after the grace) {
  start();
  witness_up();
  pass(5s);
  // Rounds at 0, 1000, 2000 fail; from 2000 on each last step is contradicted by almaty.
  CAF_CHECK_EQUAL(verdicts->seen, events{"unknown@0"});
  CAF_CHECK_EQUAL(w->asked, (times{2000, 3000, 4000, 5000}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "no link yet");
  // It dials us: alive at once.
  link_up_now();
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@5000"}));
}

CAF_TEST(nobody left to ask - the verdict is this node alone) {
  start();
  link_up_now();
  witness_up();
  send(link_down{"almaty", "closed"});
  pass(500ms);
  send(link_down{"moscow", "closed"});
  pass(1s);
  CAF_CHECK(w->asked.empty());
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "alive@0", "suspect@500", "dead@700"}));
}

CAF_TEST(back on the network the peer is judged afresh with the grace of a start) {
  start(check_mode::service, 1500ms);
  pass(4s);
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "dead@4000"}));
  send(network_changed{false, "no carrier on eth0"});
  CAF_CHECK_EQUAL(verdicts->seen.size(), 2u);
  pass(1s);
  send(network_changed{true, "an interface has a carrier again"});
  CAF_CHECK_EQUAL(verdicts->seen, (events{"unknown@0", "dead@4000", "unknown@5000"}));
  CAF_CHECK_EQUAL(verdicts->messages.back().reason, "network back: judged afresh");
  // The grace (1.5 s) and the fall count start over.
  pass(3s);
  CAF_CHECK_EQUAL(verdicts->seen.back(), "unknown@5000");
  pass(2s);
  CAF_CHECK_EQUAL(verdicts->seen.back().substr(0, 5), "dead@");
}

CAF_TEST_FIXTURE_SCOPE_END()
