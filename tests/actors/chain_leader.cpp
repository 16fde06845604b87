#define CAF_SUITE actors.chain_leader
#include "caf/test/dsl.hpp"

#include "actors/chain_leader.hpp"
#include "tests/support/fake_launcher.hpp"
#include "tests/support/virtual_time.hpp"

#include <csignal>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace montana;
using namespace std::chrono_literals;
using montana::test::fake_launcher;

// The chain rule's decisions have their own tests (chain_rule.cpp); these check what the leader
// adds around them: its tick, where each message goes, its subscriptions, the stop it waits for
// and what it ignores.

namespace {

struct config : caf::actor_system_config {
  config() { register_messages(*this); }
};

using events = std::vector<std::string>;
using time_point = caf::actor_clock::time_point;

std::string at(caf::event_based_actor* self, time_point start) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(self->clock().now() - start);
  return "@" + std::to_string(ms.count());
}

/// A remote node's gateway: writes down every claim, released and refused with the virtual time
/// of arrival, e.g. "claim(bot, moscow, 1)@3000".
caf::behavior fake_gateway(caf::event_based_actor* self, std::shared_ptr<events> log,
                           time_point start, std::shared_ptr<events> states) {
  auto fields = [](const std::string& duty, const std::string& from, uint64_t term) {
    return duty + ", " + from + ", " + std::to_string(term);
  };
  return {
      [=](const claim& x) {
        log->push_back("claim(" + fields(x.duty, x.from, x.term) + ")" + at(self, start));
      },
      [=](const released& x) {
        log->push_back("released(" + fields(x.duty, x.from, x.term) + ", " +
                       std::to_string(x.highest) + ")" + at(self, start));
      },
      [=](const refused& x) {
        log->push_back("refused(" + fields(x.duty, x.from, x.term) + ", " +
                       std::to_string(x.highest) + ")" + at(self, start));
      },
      [=](const stepped_down& x) {
        log->push_back("stepped_down(" + x.duty + ", " + x.from + ")" + at(self, start));
      },
      [=](const resumed& x) {
        log->push_back("resumed(" + x.duty + ", " + x.from + ")" + at(self, start));
      },
      [=](const relay& x) {
        log->push_back("relay(" + x.to + ": " + to_string(x.kind) + "(" +
                       fields(x.duty, x.origin, x.term) + "))" + at(self, start));
      },
      // Told on every link: what the leader says there is checked apart (states_of).
      [=](const duty_state& x) {
        states->push_back("state(" + x.duty + ", " + x.from + ", " + to_string(x.role) + ", " +
                          std::to_string(x.term) + ")" + at(self, start));
      },
  };
}

/// Whoever subscribed to a fake probe or peer, and what `heard` it was told.
struct subscription_log {
  std::vector<caf::actor> subscribers;
  events heard;
};

/// A probe or the peer actor: the leader only subscribes to them (and tells probes `heard`);
/// the test plays their verdicts and link events itself.
caf::behavior fake_source(std::shared_ptr<subscription_log> log) {
  return {
      [log](subscribe_atom, caf::actor who) { log->subscribers.push_back(std::move(who)); },
      [log](const heard& x) { log->heard.push_back(x.node); },
  };
}

/// The breather: writes down every hand-over breath asked for, e.g. "taking(bot)@3000", and
/// answers only when the test finishes the breath.
struct breath_log {
  events asked;
  std::vector<caf::response_promise> pending;
};

caf::behavior fake_breather(caf::event_based_actor* self, std::shared_ptr<breath_log> log,
                            time_point start) {
  return {
      [=](const handover_breath& x) {
        log->asked.push_back(std::string{x.taking ? "taking(" : "releasing("} + x.duty + ")" +
                             at(self, start));
        auto rp = self->make_response_promise();
        log->pending.push_back(rp);
        return rp;
      },
      // From the test: the oldest breath is over.
      [=](breath_report& report) {
        auto rp = log->pending.front();
        log->pending.erase(log->pending.begin());
        rp.deliver(std::move(report));
      },
  };
}

const std::vector<std::string> others{"amsterdam", "almaty", "spb"};

struct fixture : test_coordinator_fixture<config> {
  fixture() : fixture(false) {}

  /// With `breathing`, the leader has a (fake) breather.
  explicit fixture(bool breathing) {
    duty.name = "bot";
    // moscow is second: amsterdam must be dead for it to claim, almaty and spb rank below.
    duty.chain = {"amsterdam", "moscow", "almaty", "spb"};
    duty.command = {"/opt/bot/poll"};
    duty.startup_delay = 3s;
    duty.stop_grace = 10s;
    peer_actor = spawn(fake_source, peer_log);
    leader_params params;
    params.self = "moscow";
    params.duty = duty;
    params.tick = 100ms;
    params.peer_actor = peer_actor;
    params.launcher = fake;
    for (const auto& node : others) {
      probe_logs[node] = std::make_shared<subscription_log>();
      gateway_logs[node] = std::make_shared<events>();
      params.probes[node] = spawn(fake_source, probe_logs[node]);
      gateway_states[node] = std::make_shared<events>();
      gateways[node] = spawn(fake_gateway, gateway_logs[node], t0, gateway_states[node]);
    }
    if (breathing) {
      breather = spawn(fake_breather, breaths, t0);
      params.breather = breather;
      params.handover_timeout = 10s;
    }
    leader = spawn_chain_leader(sys, std::move(params));
    spawned.add(leader);
    consume_messages();
  }

  /// Ends the oldest hand-over breath asked for, as gone through or failed at fetch.
  void finish_breath(bool ok) {
    CAF_REQUIRE(!breaths->pending.empty());
    breath_report report;
    report.ok = ok;
    if (!ok) {
      report.failed_step = "fetch";
      report.error = "git fetch origin main [/srv/clone]: no answer within 10000 ms";
    }
    caf::anon_send(breather, report);
    consume_messages();
  }

  ~fixture() override {
    // The leader takes its linked supervisor with it; the fakes hold logs owned by us.
    spawned.end_all(*this);
  }

  template <class... Ts>
  caf::actor spawn(Ts&&... xs) {
    return spawned.add(sys.spawn(std::forward<Ts>(xs)...));
  }

  template <class T>
  void to_leader(T x) {
    caf::anon_send(leader, std::move(x));
    consume_messages();
  }

  void judge(const std::string& node, verdict v) { to_leader(verdict_changed{node, v, "test"}); }

  void link(const std::string& node) { to_leader(link_up{node, gateways[node]}); }

  void pass(caf::timespan d) { test::pass_time(*this, d); }

  /// Links every other node, amsterdam dead and the two below alive: once ready, moscow claims
  /// from almaty and spb.
  void prepare_claim() {
    for (const auto& node : others)
      link(node);
    judge("amsterdam", verdict::dead);
    judge("almaty", verdict::alive);
    judge("spb", verdict::alive);
  }

  /// Claims at 3000 ms and gets both releases: moscow holds term 1 and its child is up.
  void become_holder() {
    prepare_claim();
    pass(3s);
    to_leader(released{"bot", "almaty", 1, 0});
    to_leader(released{"bot", "spb", 1, 0});
    CAF_REQUIRE_EQUAL(fake->starts.size(), 1u);
    caf::anon_send(supervisor(), child_started{child(), 4242});
    consume_messages();
  }

  /// The leader's answer to status_atom.
  std::pair<std::string, uint64_t> status() {
    std::optional<std::pair<std::string, uint64_t>> answer;
    sys.spawn([&](caf::event_based_actor* client) {
      client->request(leader, caf::infinite, status_atom::value).then([&](duty_status& x) {
        answer.emplace(to_string(x.role), x.term);
      });
    });
    consume_messages();
    CAF_REQUIRE(answer);
    return *answer;
  }

  /// Sends `xs...` to the leader as a request; the answer lands in the result once it comes.
  template <class T, class... Ts>
  std::shared_ptr<std::optional<T>> ask(Ts... xs) {
    auto answer = std::make_shared<std::optional<T>>();
    auto request = caf::make_message(std::move(xs)...);
    spawn([=, leader = leader](caf::event_based_actor* client) {
      client->request(leader, caf::infinite, request).then([=](T& x) { answer->emplace(x); });
    });
    consume_messages();
    return answer;
  }

  /// Like ask, for an empty answer: the flag is set once it comes.
  template <class... Ts>
  std::shared_ptr<bool> ask_done(Ts... xs) {
    auto answered = std::make_shared<bool>(false);
    auto request = caf::make_message(std::move(xs)...);
    spawn([=, leader = leader](caf::event_based_actor* client) {
      client->request(leader, caf::infinite, request).then([=] { *answered = true; });
    });
    consume_messages();
    return answered;
  }

  /// The bot-supervisor the leader spawned: the fake launcher reports children to it.
  caf::actor supervisor() const { return fake->starts.back().listener; }

  uint64_t child() const { return fake->starts.back().id; }

  std::string term_of_start(size_t n) const {
    const auto& env = fake->starts.at(n).spec.env;
    auto i = env.find("MONTANA_TERM");
    return i != env.end() ? i->second : "<unset>";
  }

  const events& sent_to(const std::string& node) { return *gateway_logs.at(node); }

  duty_settings duty;
  /// Virtual time 0 of every assertion.
  time_point t0 = sched.clock().now();
  std::shared_ptr<fake_launcher> fake = std::make_shared<fake_launcher>();
  std::shared_ptr<subscription_log> peer_log = std::make_shared<subscription_log>();
  std::shared_ptr<breath_log> breaths = std::make_shared<breath_log>();
  std::map<std::string, std::shared_ptr<subscription_log>> probe_logs;
  std::map<std::string, std::shared_ptr<events>> gateway_logs;
  std::map<std::string, std::shared_ptr<events>> gateway_states;
  std::map<std::string, caf::actor> gateways;
  caf::actor peer_actor;
  caf::actor breather;
  caf::actor leader;
  montana::test::spawned_actors spawned;
};

using role_and_term = std::pair<std::string, uint64_t>;
using signals = std::vector<fake_launcher::signal_call>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(chain_leader_tests, fixture)

CAF_TEST(the leader subscribes to its peer actor and to every probe) {
  CAF_CHECK_EQUAL(peer_log->subscribers, std::vector<caf::actor>{leader});
  for (const auto& node : others)
    CAF_CHECK_EQUAL(probe_logs[node]->subscribers, std::vector<caf::actor>{leader});
}

CAF_TEST(nothing is claimed before the startup delay then the live nodes get claims) {
  link("amsterdam");
  prepare_claim();
  pass(2999ms);
  for (const auto& node : others)
    CAF_CHECK_EQUAL(sent_to(node), events{});
  CAF_CHECK_EQUAL(status(), role_and_term("standby", 0));
  pass(1ms);
  CAF_CHECK_EQUAL(sent_to("almaty"), events{"claim(bot, moscow, 1)@3000"});
  CAF_CHECK_EQUAL(sent_to("spb"), events{"claim(bot, moscow, 1)@3000"});
  // Dead: not asked, though linked.
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{});
  CAF_CHECK_EQUAL(status(), role_and_term("claiming", 1));
  CAF_CHECK(fake->starts.empty());
}

CAF_TEST(a lone survivor starts the duty exactly at the startup delay) {
  for (const auto& node : others)
    judge(node, verdict::dead);
  pass(2999ms);
  CAF_CHECK(fake->starts.empty());
  pass(1ms);
  CAF_REQUIRE_EQUAL(fake->starts.size(), 1u);
  CAF_CHECK_EQUAL(term_of_start(0), "1");
  CAF_CHECK_EQUAL(status(), role_and_term("holder", 1));
}

CAF_TEST(releases from every claimed node start the duty under the claims term) {
  prepare_claim();
  pass(3s);
  to_leader(released{"bot", "almaty", 1, 0});
  CAF_CHECK(fake->starts.empty());
  CAF_CHECK_EQUAL(status(), role_and_term("claiming", 1));
  to_leader(released{"bot", "spb", 1, 0});
  CAF_REQUIRE_EQUAL(fake->starts.size(), 1u);
  CAF_CHECK_EQUAL(term_of_start(0), "1");
  CAF_CHECK_EQUAL(fake->starts[0].spec.argv, duty.command);
  CAF_CHECK_EQUAL(status(), role_and_term("holder", 1));
}

CAF_TEST(pending claims are resent on every tick until released) {
  prepare_claim();
  pass(3099ms);
  CAF_CHECK_EQUAL(sent_to("almaty").size(), 1u);
  pass(1ms);
  CAF_CHECK_EQUAL(sent_to("almaty"),
                  (events{"claim(bot, moscow, 1)@3000", "claim(bot, moscow, 1)@3100"}));
  to_leader(released{"bot", "almaty", 1, 0});
  pass(200ms);
  CAF_CHECK_EQUAL(sent_to("almaty").size(), 2u);
  CAF_CHECK_EQUAL(sent_to("spb"),
                  (events{"claim(bot, moscow, 1)@3000", "claim(bot, moscow, 1)@3100",
                          "claim(bot, moscow, 1)@3200", "claim(bot, moscow, 1)@3300"}));
}

CAF_TEST(claims go to the current link of each node) {
  prepare_claim();
  pass(3s);
  to_leader(link_down{"almaty", "closed"});
  pass(100ms);
  CAF_CHECK_EQUAL(sent_to("almaty").size(), 1u);
  auto relinked = std::make_shared<events>();
  to_leader(link_up{"almaty", spawn(fake_gateway, relinked, t0, gateway_states["almaty"])});
  pass(100ms);
  CAF_CHECK_EQUAL(*relinked, events{"claim(bot, moscow, 1)@3200"});
  CAF_CHECK_EQUAL(sent_to("almaty").size(), 1u);
  // A new link replaces the old one even without a link_down in between.
  auto newest = std::make_shared<events>();
  to_leader(link_up{"almaty", spawn(fake_gateway, newest, t0, gateway_states["almaty"])});
  pass(100ms);
  CAF_CHECK_EQUAL(*newest, events{"claim(bot, moscow, 1)@3300"});
  CAF_CHECK_EQUAL(relinked->size(), 1u);
}

CAF_TEST(a link that comes up is told the role and term at once) {
  link("almaty");
  CAF_CHECK_EQUAL(*gateway_states["almaty"], events{"state(bot, moscow, standby, 0)@0"});
  become_holder();
  to_leader(link_down{"spb", "closed"});
  link("spb");
  CAF_CHECK_EQUAL(gateway_states["spb"]->back(), "state(bot, moscow, holder, 1)@3000");
}

CAF_TEST(a holder told that a node above holds releases without a claim) {
  become_holder();
  auto id = child();
  to_leader(duty_state{"bot", "amsterdam", duty_role::holder, 1});
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  CAF_CHECK_EQUAL(probe_logs["amsterdam"]->heard, events{"amsterdam"});
  CAF_CHECK_EQUAL(status(), role_and_term("releasing", 1));
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGTERM});
  consume_messages();
  CAF_CHECK_EQUAL(status(), role_and_term("standby", 1));
  // Nobody claimed: nothing is owed.
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{});
}

CAF_TEST(a claim to a node without a link goes through every linked node) {
  prepare_claim();
  pass(3s);
  to_leader(link_down{"spb", "heartbeat timeout"});
  pass(100ms);
  CAF_CHECK_EQUAL(sent_to("spb"), events{"claim(bot, moscow, 1)@3000"});
  const auto relayed = "relay(spb: claim(bot, moscow, 1))@3100";
  CAF_CHECK_EQUAL(sent_to("amsterdam").back(), relayed);
  CAF_CHECK_EQUAL(sent_to("almaty").back(), relayed);
  // spb's release comes back the same way: the claim completes.
  to_leader(released{"bot", "almaty", 1, 0});
  to_leader(released{"bot", "spb", 1, 0});
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  CAF_CHECK_EQUAL(status(), role_and_term("holder", 1));
}

CAF_TEST(a holder whose network goes down stops its duty and claims nothing until it is back) {
  become_holder();
  auto id = child();
  to_leader(network_changed{false, "no carrier on eth0"});
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  CAF_CHECK_EQUAL(status(), role_and_term("releasing", 1));
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGTERM});
  consume_messages();
  CAF_CHECK_EQUAL(status(), role_and_term("standby", 1));
  for (const auto& node : others)
    judge(node, verdict::dead);
  pass(10s);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  // Back: the startup delay again before any claim.
  to_leader(network_changed{true, "an interface has a carrier again"});
  judge("amsterdam", verdict::dead);
  judge("almaty", verdict::dead);
  judge("spb", verdict::dead);
  pass(2900ms);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  pass(200ms);
  CAF_CHECK_EQUAL(fake->starts.size(), 2u);
}

CAF_TEST(a claim from above is released only after the stopped child exited) {
  become_holder();
  auto id = child();
  to_leader(claim{"bot", "amsterdam", 2});
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  // A claim is direct evidence of life: amsterdam's probe hears of it.
  CAF_CHECK_EQUAL(probe_logs["amsterdam"]->heard, events{"amsterdam"});
  CAF_CHECK_EQUAL(status(), role_and_term("releasing", 1));
  pass(9s);
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{});
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGTERM});
  consume_messages();
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{"released(bot, moscow, 2, 1)@12000"});
  CAF_CHECK_EQUAL(status(), role_and_term("standby", 2));
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
}

CAF_TEST(a stop the supervisor confirms only after the leaders bound still ends in released) {
  become_holder();
  auto id = child();
  to_leader(claim{"bot", "amsterdam", 2});
  // The child outlives SIGTERM, SIGKILL and the leader's bound (stuck in the kernel, say).
  pass(stop_bound(duty) + 1s);
  CAF_CHECK_EQUAL(status(), role_and_term("releasing", 1));
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{});
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGKILL});
  consume_messages();
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{"released(bot, moscow, 2, 1)@19000"});
  CAF_CHECK_EQUAL(status(), role_and_term("standby", 2));
}

CAF_TEST(a stop never confirmed makes the leader fail and its supervisor kill the child) {
  become_holder();
  auto id = child();
  auto exited = std::make_shared<std::optional<caf::error>>();
  leader->attach_functor([exited](const caf::error& reason) { *exited = reason; });
  auto supervisor_exited = std::make_shared<bool>(false);
  supervisor()->attach_functor([supervisor_exited] { *supervisor_exited = true; });
  to_leader(claim{"bot", "amsterdam", 2});
  pass(stop_bound(duty) * stop_attempts - 1s);
  CAF_CHECK(!exited->has_value());
  CAF_CHECK_EQUAL(status(), role_and_term("releasing", 1));
  pass(2s);
  CAF_REQUIRE(exited->has_value());
  CAF_CHECK_EQUAL(sys.render(**exited),
                  R"(system_error(runtime_error, ("stop of duty bot not confirmed")))");
  // The supervisor went with its leader (linked) and SIGKILLed the child's group on its way out.
  CAF_CHECK(*supervisor_exited);
  CAF_REQUIRE(!fake->signals.empty());
  CAF_CHECK_EQUAL(fake->signals.back(), (fake_launcher::signal_call{id, SIGKILL}));
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{});
}

CAF_TEST(the leader and its supervisor end together) {
  become_holder();
  auto exited = std::make_shared<std::optional<caf::error>>();
  leader->attach_functor([exited](const caf::error& reason) { *exited = reason; });
  caf::anon_send_exit(supervisor(), caf::exit_reason::kill);
  consume_messages();
  // Linked: the node's guardian then sees the leader go and fails the node.
  CAF_REQUIRE(exited->has_value());
  CAF_CHECK_EQUAL(**exited, caf::error{caf::exit_reason::kill});
}

CAF_TEST(a claim from below is refused through its gateway) {
  link("spb");
  to_leader(claim{"bot", "spb", 4});
  CAF_CHECK_EQUAL(sent_to("spb"), events{"refused(bot, moscow, 4, 0)@0"});
  CAF_CHECK_EQUAL(probe_logs["spb"]->heard, events{});
}

CAF_TEST(messages for another duty or from the leader itself are ignored) {
  prepare_claim();
  to_leader(claim{"mail", "amsterdam", 9});
  to_leader(released{"mail", "almaty", 7, 9});
  to_leader(refused{"mail", "amsterdam", 7, 9});
  to_leader(claim{"bot", "moscow", 9});
  to_leader(released{"bot", "moscow", 5, 9});
  to_leader(refused{"bot", "moscow", 5, 9});
  CAF_CHECK_EQUAL(status(), role_and_term("standby", 0));
  CAF_CHECK_EQUAL(probe_logs["amsterdam"]->heard, events{});
  pass(3s);
  // No term was learnt from them and amsterdam still counts as dead.
  CAF_CHECK_EQUAL(sent_to("almaty"), events{"claim(bot, moscow, 1)@3000"});
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{});
  to_leader(released{"bot", "almaty", 1, 0});
  to_leader(released{"bot", "spb", 1, 0});
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  // Not our duty: the holder keeps running.
  to_leader(claim{"mail", "amsterdam", 9});
  CAF_CHECK(fake->signals.empty());
  CAF_CHECK_EQUAL(status(), role_and_term("holder", 1));
}

CAF_TEST(a dead verdict on the only pending node completes the claim) {
  prepare_claim();
  pass(3s);
  to_leader(released{"bot", "almaty", 1, 0});
  CAF_CHECK(fake->starts.empty());
  judge("spb", verdict::dead);
  CAF_REQUIRE_EQUAL(fake->starts.size(), 1u);
  CAF_CHECK_EQUAL(term_of_start(0), "1");
  CAF_CHECK_EQUAL(status(), role_and_term("holder", 1));
}

CAF_TEST(unexpected messages do not kill the leader) {
  auto exited = std::make_shared<std::optional<caf::error>>();
  leader->attach_functor([exited](const caf::error& reason) { *exited = reason; });
  to_leader(std::string{"garbage"});
  to_leader(pong{"spb", 1});
  to_leader(caf::make_error(caf::sec::runtime_error)); // CAF's default would quit on it
  CAF_CHECK(!exited->has_value());
  CAF_CHECK_EQUAL(status(), role_and_term("standby", 0));
}

CAF_TEST(a leaving holder tells everyone and stops only when the next node claims) {
  become_holder();
  auto id = child();
  auto left = ask_done(stop_atom::value);
  for (const auto& node : others)
    CAF_CHECK_EQUAL(sent_to(node).back(), "stepped_down(bot, moscow)@3000");
  CAF_CHECK(fake->signals.empty());
  CAF_CHECK_EQUAL(status(), role_and_term("holder", 1));
  pass(1s);
  // almaty, below, takes over: its claim is answered, not refused.
  to_leader(claim{"bot", "almaty", 2});
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGTERM});
  consume_messages();
  CAF_CHECK_EQUAL(sent_to("almaty").back(), "released(bot, moscow, 2, 1)@4000");
  CAF_CHECK(*left);
  // It never claims again.
  judge("almaty", verdict::dead);
  judge("spb", verdict::dead);
  pass(5s);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
}

CAF_TEST(a leaving holder that nobody claims stops after the handover wait) {
  become_holder();
  auto id = child();
  auto left = ask_done(stop_atom::value);
  pass(handover_wait(duty) - 100ms);
  CAF_CHECK(fake->signals.empty());
  pass(200ms);
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  CAF_CHECK(!*left);
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGTERM});
  consume_messages();
  CAF_CHECK(*left);
  CAF_CHECK_EQUAL(status(), role_and_term("standby", 1));
}

CAF_TEST(a step - down answers once the duty moved and resume claims again) {
  become_holder();
  auto id = child();
  auto down = ask<action_result>(step_down_atom::value, std::string{"alice"});
  CAF_CHECK_EQUAL(sent_to("spb").back(), "stepped_down(bot, moscow)@3000");
  CAF_CHECK(!down->has_value());
  to_leader(claim{"bot", "almaty", 2});
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGTERM});
  consume_messages();
  CAF_REQUIRE(down->has_value());
  CAF_CHECK((*down)->ok);
  CAF_CHECK_EQUAL((*down)->text, "bot: stepped down; handed over: almaty claimed term 2");
  // A node that links (again) learns of it.
  link("spb");
  CAF_CHECK_EQUAL(sent_to("spb").back(), "stepped_down(bot, moscow)@3000");
  // Stepped down, it does not claim even with everyone above and below dead.
  judge("almaty", verdict::dead);
  pass(1s);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  auto up = ask<action_result>(resume_atom::value, std::string{"alice"});
  CAF_REQUIRE(up->has_value());
  CAF_CHECK((*up)->ok);
  for (const auto& node : others)
    CAF_CHECK(std::find(sent_to(node).begin(), sent_to(node).end(), "resumed(bot, moscow)@4000") !=
              sent_to(node).end());
  CAF_CHECK_EQUAL(sent_to("spb").back(), "claim(bot, moscow, 3)@4000");
}

CAF_TEST(a step - down that would leave the duty to nobody is refused) {
  become_holder();
  judge("almaty", verdict::dead);
  judge("spb", verdict::dead);
  auto down = ask<action_result>(step_down_atom::value, std::string{"alice"});
  CAF_REQUIRE(down->has_value());
  CAF_CHECK(!(*down)->ok);
  CAF_CHECK(fake->signals.empty());
  CAF_CHECK_EQUAL(status(), role_and_term("holder", 1));
  // Restarting the process is the holder's: stop, then a new start under the same term.
  auto restarted = ask<action_result>(restart_atom::value, std::string{"alice"});
  CAF_REQUIRE(restarted->has_value());
  CAF_CHECK((*restarted)->ok);
  auto id = child();
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGTERM});
  consume_messages();
  CAF_REQUIRE_EQUAL(fake->starts.size(), 2u);
  CAF_CHECK_EQUAL(term_of_start(1), "1");
}

CAF_TEST_FIXTURE_SCOPE_END()

// --- Hand-over breaths: the data moves with the duty --------------------------------

namespace {

struct breathing_fixture : fixture {
  breathing_fixture() : fixture(true) {}

  /// Claims at 3000 ms, gets both releases, and the taking breath goes through.
  void become_holder() {
    prepare_claim();
    pass(3s);
    to_leader(released{"bot", "almaty", 1, 0});
    to_leader(released{"bot", "spb", 1, 0});
    finish_breath(true);
    CAF_REQUIRE_EQUAL(fake->starts.size(), 1u);
    caf::anon_send(supervisor(), child_started{child(), 4242});
    consume_messages();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(chain_leader_breath_tests, breathing_fixture)

CAF_TEST(the new holder starts its duty only after the taking breath) {
  prepare_claim();
  pass(3s);
  to_leader(released{"bot", "almaty", 1, 0});
  to_leader(released{"bot", "spb", 1, 0});
  CAF_CHECK_EQUAL(status(), role_and_term("holder", 1));
  CAF_CHECK_EQUAL(breaths->asked, events{"taking(bot)@3000"});
  CAF_CHECK(fake->starts.empty());
  pass(1s);
  CAF_CHECK(fake->starts.empty());
  finish_breath(true);
  CAF_REQUIRE_EQUAL(fake->starts.size(), 1u);
  CAF_CHECK_EQUAL(term_of_start(0), "1");
}

CAF_TEST(the old holder answers released only after its releasing breath) {
  become_holder();
  auto id = child();
  to_leader(claim{"bot", "amsterdam", 2});
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGTERM});
  consume_messages();
  // The process is gone: what it wrote is pushed before the claimer may start.
  CAF_CHECK_EQUAL(breaths->asked, (events{"taking(bot)@3000", "releasing(bot)@3000"}));
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{});
  CAF_CHECK_EQUAL(status(), role_and_term("releasing", 1));
  finish_breath(true);
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{"released(bot, moscow, 2, 1)@3000"});
  CAF_CHECK_EQUAL(status(), role_and_term("standby", 2));
}

CAF_TEST(a failed hand - over breath lets the hand - over go on) {
  prepare_claim();
  pass(3s);
  to_leader(released{"bot", "almaty", 1, 0});
  to_leader(released{"bot", "spb", 1, 0});
  finish_breath(false);
  CAF_REQUIRE_EQUAL(fake->starts.size(), 1u);
  caf::anon_send(supervisor(), child_started{child(), 4242});
  consume_messages();
  auto id = child();
  to_leader(claim{"bot", "amsterdam", 2});
  caf::anon_send(supervisor(), child_exited{id, 4242, 0, SIGTERM});
  consume_messages();
  finish_breath(false);
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{"released(bot, moscow, 2, 1)@3000"});
}

CAF_TEST(a breather that never answers holds the start no longer than the bound) {
  prepare_claim();
  pass(3s);
  to_leader(released{"bot", "almaty", 1, 0});
  to_leader(released{"bot", "spb", 1, 0});
  pass(handover_breath_bound(10s) - 1ms);
  CAF_CHECK(fake->starts.empty());
  pass(1ms);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
}

CAF_TEST(a duty handed on during its taking breath is not started) {
  prepare_claim();
  pass(3s);
  to_leader(released{"bot", "almaty", 1, 0});
  to_leader(released{"bot", "spb", 1, 0});
  to_leader(claim{"bot", "amsterdam", 2});
  finish_breath(true);
  CAF_CHECK(fake->starts.empty());
  // The release still breathes (the files go back to following the remote) before answering.
  CAF_CHECK_EQUAL(breaths->asked, (events{"taking(bot)@3000", "releasing(bot)@3000"}));
  finish_breath(true);
  CAF_CHECK_EQUAL(sent_to("amsterdam"), events{"released(bot, moscow, 2, 1)@3000"});
}

CAF_TEST_FIXTURE_SCOPE_END()
