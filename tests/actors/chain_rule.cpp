#define CAF_SUITE actors.chain_rule
#include "caf/test/dsl.hpp"

#include "actors/chain_rule.hpp"

#include <deque>
#include <memory>
#include <optional>
#include <random>

using namespace montana;
using namespace std::chrono_literals;
namespace act = rule_action;

namespace {

using tp = chain_rule::time_point;

const std::vector<std::string> five{"amsterdam", "moscow", "almaty", "spb", "novosibirsk"};
const tp t0{};

template <class T>
std::vector<T> all_of_type(const std::vector<chain_action>& xs) {
  std::vector<T> out;
  for (const auto& x : xs)
    if (auto p = std::get_if<T>(&x))
      out.push_back(*p);
  return out;
}

template <class T>
bool has(const std::vector<chain_action>& xs) {
  return !all_of_type<T>(xs).empty();
}

std::set<std::string> claim_targets(const std::vector<chain_action>& xs) {
  std::set<std::string> out;
  for (const auto& c : all_of_type<act::send_claim>(xs))
    out.insert(c.to);
  return out;
}

/// A rule for `self` whose startup delay is over, with the given verdicts.
chain_rule ready_rule(const std::string& self, std::map<std::string, verdict> verdicts) {
  chain_rule r{self, five, 3s, t0};
  for (const auto& [node, v] : verdicts)
    r.on_verdict(node, v);
  r.tick(t0 + 3s);
  return r;
}

/// Makes `r` the holder by answering every claim it sent.
void finish_claims(chain_rule& r) {
  auto pending = r.pending();
  for (const auto& node : pending)
    r.on_released(node, r.term(), 0);
}

} // namespace

CAF_TEST(nothing is decided before the startup delay) {
  chain_rule r{"amsterdam", five, 3s, t0};
  CAF_CHECK(r.tick(t0 + 1s).empty());
  CAF_CHECK(r.on_verdict("moscow", verdict::dead).empty());
  CAF_CHECK(r.role() == duty_role::standby);
  auto out = r.tick(t0 + 3s);
  CAF_CHECK(r.role() == duty_role::claiming);
  CAF_CHECK(has<act::role_changed>(out));
}

CAF_TEST(the first node claims from every node not known dead and starts after all released) {
  chain_rule r{"amsterdam", five, 3s, t0};
  r.on_verdict("spb", verdict::dead);
  auto out = r.tick(t0 + 3s);
  CAF_CHECK_EQUAL(claim_targets(out), (std::set<std::string>{"moscow", "almaty", "novosibirsk"}));
  CAF_CHECK_EQUAL(r.term(), 1u);
  CAF_CHECK(r.on_released("moscow", 1, 0).empty());
  CAF_CHECK(r.on_released("almaty", 1, 0).empty());
  out = r.on_released("novosibirsk", 1, 0);
  CAF_CHECK(r.role() == duty_role::holder);
  auto starts = all_of_type<act::start_duty>(out);
  CAF_REQUIRE_EQUAL(starts.size(), 1u);
  CAF_CHECK_EQUAL(starts[0].term, 1u);
}

CAF_TEST(pending claims are resent on tick) {
  auto r = ready_rule("amsterdam", {});
  r.on_released("moscow", 1, 0);
  auto out = r.tick(t0 + 4s);
  CAF_CHECK_EQUAL(claim_targets(out), (std::set<std::string>{"almaty", "spb", "novosibirsk"}));
}

CAF_TEST(a lower node waits while any node above is not dead) {
  for (auto v : {verdict::unknown, verdict::alive, verdict::suspect}) {
    auto r = ready_rule("almaty", {{"amsterdam", verdict::dead}, {"moscow", v}});
    CAF_CHECK(r.role() == duty_role::standby);
  }
  auto r = ready_rule("almaty", {{"amsterdam", verdict::dead}, {"moscow", verdict::suspect}});
  auto out = r.on_verdict("moscow", verdict::dead);
  CAF_CHECK(r.role() == duty_role::claiming);
  CAF_CHECK_EQUAL(claim_targets(out), (std::set<std::string>{"spb", "novosibirsk"}));
}

CAF_TEST(the last survivor of five runs the duty without waiting) {
  auto r = ready_rule("novosibirsk", {{"amsterdam", verdict::dead},
                                      {"moscow", verdict::dead},
                                      {"almaty", verdict::dead},
                                      {"spb", verdict::dead}});
  CAF_CHECK(r.role() == duty_role::holder);
}

CAF_TEST(a holder hands back only after its process stopped) {
  auto r = ready_rule("moscow", {{"amsterdam", verdict::dead}});
  finish_claims(r);
  CAF_REQUIRE(r.role() == duty_role::holder);
  auto out = r.on_claim("amsterdam", 7);
  CAF_CHECK(r.role() == duty_role::releasing);
  CAF_CHECK(has<act::stop_duty>(out));
  CAF_CHECK(has<act::mark_alive>(out));
  CAF_CHECK(!has<act::send_released>(out));
  out = r.on_stopped();
  auto rel = all_of_type<act::send_released>(out);
  CAF_REQUIRE_EQUAL(rel.size(), 1u);
  CAF_CHECK_EQUAL(rel[0].to, "amsterdam");
  CAF_CHECK_EQUAL(rel[0].term, 7u);
  CAF_CHECK(r.role() == duty_role::standby);
  CAF_CHECK(r.verdict_of("amsterdam") == verdict::alive);
}

CAF_TEST(a holder keeps the duty until the node above that came back claims it) {
  auto r = ready_rule("moscow", {{"amsterdam", verdict::dead}});
  finish_claims(r);
  auto out = r.on_verdict("amsterdam", verdict::alive);
  CAF_CHECK(r.role() == duty_role::holder);
  CAF_CHECK(!has<act::stop_duty>(out));
  out = r.on_claim("amsterdam", 9);
  CAF_CHECK(r.role() == duty_role::releasing);
  CAF_CHECK(has<act::stop_duty>(out));
  out = r.on_stopped();
  CAF_CHECK_EQUAL(all_of_type<act::send_released>(out).size(), 1u);
}

CAF_TEST(a holder that dies mid - handover is skipped once judged dead) {
  auto r = ready_rule(
      "amsterdam",
      {{"almaty", verdict::dead}, {"spb", verdict::dead}, {"novosibirsk", verdict::dead}});
  CAF_REQUIRE(r.role() == duty_role::claiming);
  CAF_CHECK_EQUAL(r.pending(), (std::set<std::string>{"moscow"}));
  auto out = r.on_verdict("moscow", verdict::suspect);
  CAF_CHECK(r.role() == duty_role::claiming);
  out = r.on_verdict("moscow", verdict::dead);
  CAF_CHECK(r.role() == duty_role::holder);
  CAF_CHECK(has<act::start_duty>(out));
}

CAF_TEST(terms grow with every claim and respect the highest term seen) {
  auto r = ready_rule("moscow", {{"amsterdam", verdict::dead}});
  CAF_CHECK_EQUAL(r.term(), 1u);
  r.on_claim("amsterdam", 41);
  CAF_CHECK(r.role() == duty_role::standby);
  CAF_CHECK_EQUAL(r.term(), 41u);
  auto out = r.on_verdict("amsterdam", verdict::dead);
  CAF_CHECK(r.role() == duty_role::claiming);
  CAF_CHECK_EQUAL(r.term(), 42u);
  for (const auto& c : all_of_type<act::send_claim>(out))
    CAF_CHECK_EQUAL(c.term, 42u);
}

CAF_TEST(a restarted claimer continues the term sequence of the nodes it reaches) {
  auto r = ready_rule(
      "amsterdam",
      {{"almaty", verdict::dead}, {"spb", verdict::dead}, {"novosibirsk", verdict::dead}});
  CAF_REQUIRE_EQUAL(r.term(), 1u);
  auto out = r.on_released("moscow", 1, 7);
  CAF_CHECK(r.role() == duty_role::holder);
  auto starts = all_of_type<act::start_duty>(out);
  CAF_REQUIRE_EQUAL(starts.size(), 1u);
  CAF_CHECK_EQUAL(starts[0].term, 8u);
  CAF_CHECK_EQUAL(r.term(), 8u);
  // Everyone learns the new term.
  CAF_CHECK_EQUAL(claim_targets(out), (std::set<std::string>{"moscow"}));
}

CAF_TEST(a release for an older claim does not count) {
  auto r = ready_rule(
      "amsterdam",
      {{"almaty", verdict::dead}, {"spb", verdict::dead}, {"novosibirsk", verdict::dead}});
  r.on_released("moscow", r.term() + 5, 0);
  r.on_released("moscow", r.term() - 1, 0);
  CAF_CHECK(r.role() == duty_role::claiming);
  r.on_released("moscow", r.term(), 0);
  CAF_CHECK(r.role() == duty_role::holder);
}

CAF_TEST(lower nodes dying changes nothing for the holder) {
  auto r = ready_rule("amsterdam", {});
  finish_claims(r);
  for (const auto& node : {"moscow", "almaty", "spb", "novosibirsk"}) {
    auto out = r.on_verdict(node, verdict::dead);
    CAF_CHECK(!has<act::stop_duty>(out));
    CAF_CHECK(!has<act::role_changed>(out));
  }
  CAF_CHECK(r.role() == duty_role::holder);
}

CAF_TEST(a leaving holder hands the duty to the next node and never claims again) {
  auto r = ready_rule("amsterdam", {});
  finish_claims(r);
  auto out = r.leave();
  // It tells everyone and keeps running until the next node claims.
  std::set<std::string> told;
  for (const auto& x : all_of_type<act::send_stepped_down>(out))
    told.insert(x.to);
  CAF_CHECK_EQUAL(told, (std::set<std::string>{"moscow", "almaty", "spb", "novosibirsk"}));
  CAF_CHECK(r.role() == duty_role::holder);
  CAF_CHECK(!has<act::stop_duty>(out));
  // A claim from below, which it would refuse otherwise, takes the duty away.
  out = r.on_claim("moscow", 2);
  CAF_CHECK(!has<act::send_refused>(out));
  CAF_CHECK(r.role() == duty_role::releasing);
  CAF_CHECK(has<act::stop_duty>(out));
  out = r.on_stopped();
  auto rel = all_of_type<act::send_released>(out);
  CAF_REQUIRE_EQUAL(rel.size(), 1u);
  CAF_CHECK_EQUAL(rel[0].to, "moscow");
  CAF_CHECK(r.role() == duty_role::standby);
  CAF_CHECK(!has<act::send_claim>(out));
  CAF_CHECK(r.tick(t0 + 10s).empty());
  CAF_CHECK(r.on_verdict("moscow", verdict::dead).empty());
  CAF_CHECK(r.resume().empty());    // a leaving node stays out
  out = r.on_claim("amsterdam", 5); // ignored: from itself
  CAF_CHECK(out.empty());
  auto lower = ready_rule("moscow", {{"amsterdam", verdict::dead}});
  lower.leave();
  CAF_CHECK(lower.role() == duty_role::standby);
  CAF_CHECK(lower.on_verdict("amsterdam", verdict::dead).empty());
}

CAF_TEST(a leaving holder with nobody to take over stops the duty at once) {
  auto r = ready_rule("amsterdam", {{"moscow", verdict::dead},
                                    {"almaty", verdict::dead},
                                    {"spb", verdict::dead},
                                    {"novosibirsk", verdict::dead}});
  CAF_REQUIRE(r.role() == duty_role::holder);
  auto out = r.leave();
  CAF_CHECK(r.role() == duty_role::releasing);
  CAF_CHECK(has<act::stop_duty>(out));
  // The last possible successor dying or stepping down mid-handover has the same effect.
  auto s = ready_rule(
      "amsterdam", {{"moscow", verdict::dead}, {"almaty", verdict::dead}, {"spb", verdict::dead}});
  finish_claims(s);
  s.leave();
  CAF_CHECK(s.role() == duty_role::holder);
  out = s.on_verdict("novosibirsk", verdict::dead);
  CAF_CHECK(s.role() == duty_role::releasing);
  auto t = ready_rule(
      "amsterdam", {{"moscow", verdict::dead}, {"almaty", verdict::dead}, {"spb", verdict::dead}});
  finish_claims(t);
  t.leave();
  out = t.on_stepped_down("novosibirsk");
  CAF_CHECK(t.role() == duty_role::releasing);
  // release() is the leader's way out when no claim came in time.
  auto u = ready_rule("amsterdam", {});
  finish_claims(u);
  u.leave();
  out = u.release("no node claimed");
  CAF_CHECK(u.role() == duty_role::releasing);
  CAF_CHECK(has<act::stop_duty>(out));
}

CAF_TEST(a node below claims past one that stepped down) {
  auto r = ready_rule("moscow", {{"amsterdam", verdict::alive}});
  CAF_REQUIRE(r.role() == duty_role::standby);
  auto out = r.on_stepped_down("amsterdam");
  CAF_CHECK(r.role() == duty_role::claiming);
  // The stepped-down node still runs the duty: the claim must wait for its release.
  CAF_CHECK(r.pending().count("amsterdam") == 1);
  CAF_CHECK(claim_targets(out).count("amsterdam") == 1);
  finish_claims(r);
  CAF_CHECK(r.role() == duty_role::holder);
  // The node above resumes: the holder keeps the duty until it claims.
  out = r.on_resumed("amsterdam");
  CAF_CHECK(r.role() == duty_role::holder);
  out = r.on_claim("amsterdam", r.term() + 1);
  CAF_CHECK(r.role() == duty_role::releasing);
}

CAF_TEST(a claimer aborts when a node above resumes and a claim or death clears a step - down) {
  auto r = ready_rule("moscow", {{"amsterdam", verdict::alive}});
  r.on_stepped_down("amsterdam");
  CAF_REQUIRE(r.role() == duty_role::claiming);
  r.on_resumed("amsterdam");
  CAF_CHECK(r.role() == duty_role::standby);
  // A node that claims has not stepped down (any more), whatever we heard before.
  auto s = ready_rule("almaty", {{"amsterdam", verdict::dead}, {"moscow", verdict::alive}});
  s.on_stepped_down("moscow");
  CAF_REQUIRE(s.role() == duty_role::claiming);
  s.on_claim("moscow", 9);
  CAF_CHECK(s.out().empty());
  CAF_CHECK(s.role() == duty_role::standby);
  // A node judged dead that returns has to say again that it stepped down.
  auto t = ready_rule("almaty", {{"amsterdam", verdict::dead}, {"moscow", verdict::alive}});
  t.on_stepped_down("moscow");
  t.on_verdict("moscow", verdict::dead);
  CAF_CHECK(t.out().empty());
  t.on_verdict("moscow", verdict::alive);
  CAF_CHECK(t.role() == duty_role::standby);
}

CAF_TEST(a stepped - down node never claims and tells nodes that link to it) {
  auto r = ready_rule("amsterdam", {});
  CAF_REQUIRE(r.role() == duty_role::claiming);
  auto out = r.step_down();
  CAF_CHECK(r.role() == duty_role::standby);
  CAF_CHECK(r.stepped_down());
  CAF_CHECK(r.tick(t0 + 10s).empty());
  for (const auto& n : {"moscow", "almaty", "spb", "novosibirsk"})
    CAF_CHECK(!has<act::send_claim>(r.on_verdict(n, verdict::dead)));
  out = r.on_link("spb");
  auto told = all_of_type<act::send_stepped_down>(out);
  CAF_REQUIRE_EQUAL(told.size(), 1u);
  CAF_CHECK_EQUAL(told[0].to, "spb");
  // Its claims come back with resume.
  out = r.resume();
  CAF_CHECK_EQUAL(all_of_type<act::send_resumed>(out).size(), 4u);
  CAF_CHECK(r.role() == duty_role::holder);
  CAF_CHECK(r.on_link("spb").empty());
}

CAF_TEST(a claim from a lower node is refused and a refusal aborts a claim) {
  auto holder = ready_rule("amsterdam", {});
  auto out = holder.on_claim("spb", 3);
  auto refusals = all_of_type<act::send_refused>(out);
  CAF_REQUIRE_EQUAL(refusals.size(), 1u);
  CAF_CHECK_EQUAL(refusals[0].to, "spb");
  auto claimer = ready_rule(
      "spb", {{"amsterdam", verdict::dead}, {"moscow", verdict::dead}, {"almaty", verdict::dead}});
  CAF_REQUIRE(claimer.role() == duty_role::claiming);
  out = claimer.on_refused("moscow", 3, 3);
  CAF_CHECK(claimer.role() == duty_role::standby);
  CAF_CHECK(has<act::mark_alive>(out));
}

CAF_TEST(a claim from above aborts a claim and is released at once) {
  auto r = ready_rule("almaty", {{"amsterdam", verdict::dead}, {"moscow", verdict::dead}});
  CAF_REQUIRE(r.role() == duty_role::claiming);
  auto out = r.on_claim("moscow", 10);
  CAF_CHECK(r.role() == duty_role::standby);
  CAF_CHECK_EQUAL(all_of_type<act::send_released>(out).size(), 1u);
  CAF_CHECK(!has<act::stop_duty>(out));
}

CAF_TEST(a holder reasserts its claim to a lower node that reappears) {
  auto r = ready_rule("amsterdam", {{"spb", verdict::dead}});
  finish_claims(r);
  auto out = r.on_verdict("spb", verdict::alive);
  CAF_CHECK_EQUAL(claim_targets(out), (std::set<std::string>{"spb"}));
  CAF_CHECK(r.role() == duty_role::holder);
}

CAF_TEST(a claimer waits for a lower node that appears during its claim) {
  auto r = ready_rule("amsterdam", {{"spb", verdict::dead}});
  finish_claims(r);
  auto s = ready_rule("amsterdam", {{"moscow", verdict::dead},
                                    {"almaty", verdict::dead},
                                    {"spb", verdict::dead},
                                    {"novosibirsk", verdict::unknown}});
  CAF_REQUIRE(s.role() == duty_role::claiming);
  auto out = s.on_verdict("spb", verdict::alive);
  CAF_CHECK_EQUAL(claim_targets(out), (std::set<std::string>{"spb"}));
  CAF_CHECK_EQUAL(s.pending(), (std::set<std::string>{"spb", "novosibirsk"}));
}

// -- randomized cluster simulation --------------------------------------------
//
// Five rules, a message queue with random delays, a failure detector that
// tells each node about deaths and returns after a random delay, and duty
// processes whose stop takes a random time. Invariant after every event: at
// most one duty process runs among the living nodes (all of which reach each
// other here). At the end: the first live node holds the duty, alone.

namespace {

struct sim {
  struct node_state {
    std::unique_ptr<chain_rule> rule;
    bool alive = true;
    int incarnation = 0;
    bool running = false;
    std::optional<tp> stop_done;
  };
  struct envelope {
    tp at;
    std::string from;
    int from_inc;
    std::string to;
    int to_inc;
    std::function<std::vector<chain_action>(chain_rule&)> apply;
  };

  std::mt19937 rng;
  tp now = t0;
  std::map<std::string, node_state> nodes;
  std::vector<envelope> queue;
  int max_running = 0;
  /// Term of each living node's latest start; a new holder must exceed them all.
  std::map<std::string, uint64_t> start_terms;
  int term_regressions = 0;
  int stepped_down_starts = 0;

  explicit sim(unsigned seed) : rng(seed) {
    for (const auto& n : five)
      boot(n);
  }

  std::chrono::milliseconds rnd(int lo_ms, int hi_ms) {
    return std::chrono::milliseconds{std::uniform_int_distribution<int>{lo_ms, hi_ms}(rng)};
  }

  void boot(const std::string& n) {
    auto& st = nodes[n];
    // A short startup delay on purpose: safety must not depend on it.
    st.rule = std::make_unique<chain_rule>(n, five, rnd(0, 300), now);
    st.alive = true;
    ++st.incarnation;
    st.running = false;
    st.stop_done.reset();
    start_terms.erase(n);
    detect(n, 10, 400);
    // The newcomer's probes learn everyone else's state too, and the links that come up tell it
    // who stepped down.
    for (const auto& other : five)
      if (other != n) {
        post(other, n, rnd(10, 400), [this, other](chain_rule& r) {
          return r.on_verdict(other, nodes[other].alive ? verdict::alive : verdict::dead);
        });
        post(n, other, rnd(10, 400), [n](chain_rule& r) { return r.on_link(n); });
      }
  }

  /// Every other node learns `n`'s state as it is when the news arrives.
  void detect(const std::string& n, int lo_ms, int hi_ms) {
    for (const auto& other : five)
      if (other != n)
        post(n, other, rnd(lo_ms, hi_ms), [this, n](chain_rule& r) {
          return r.on_verdict(n, nodes[n].alive ? verdict::alive : verdict::dead);
        });
  }

  void kill(const std::string& n) {
    auto& st = nodes[n];
    st.alive = false;
    st.running = false; // PDEATHSIG: the process dies with the node
    ++st.incarnation;   // its messages in flight die with its connections
    detect(n, 10, 600);
  }

  void post(const std::string& from, const std::string& to, std::chrono::milliseconds delay,
            std::function<std::vector<chain_action>(chain_rule&)> f) {
    queue.push_back(envelope{now + delay, from, nodes[from].incarnation, to, nodes[to].incarnation,
                             std::move(f)});
  }

  void run_actions(const std::string& self, std::vector<chain_action> actions) {
    auto& st = nodes[self];
    for (auto& a : actions) {
      if (auto c = std::get_if<act::send_claim>(&a)) {
        auto term = c->term;
        post(self, c->to, rnd(1, 50),
             [self, term](chain_rule& r) { return r.on_claim(self, term); });
      } else if (auto rel = std::get_if<act::send_released>(&a)) {
        auto [term, highest] = std::pair{rel->term, rel->highest};
        post(self, rel->to, rnd(1, 50),
             [self, term, highest](chain_rule& r) { return r.on_released(self, term, highest); });
      } else if (auto ref = std::get_if<act::send_refused>(&a)) {
        auto [term, highest] = std::pair{ref->term, ref->highest};
        post(self, ref->to, rnd(1, 50),
             [self, term, highest](chain_rule& r) { return r.on_refused(self, term, highest); });
      } else if (auto d = std::get_if<act::send_stepped_down>(&a)) {
        post(self, d->to, rnd(1, 50), [self](chain_rule& r) { return r.on_stepped_down(self); });
      } else if (auto u = std::get_if<act::send_resumed>(&a)) {
        post(self, u->to, rnd(1, 50), [self](chain_rule& r) { return r.on_resumed(self); });
      } else if (auto start = std::get_if<act::start_duty>(&a)) {
        if (st.rule->stepped_down())
          ++stepped_down_starts;
        st.running = true;
        for (const auto& [other, term] : start_terms)
          if (other != self && nodes[other].alive && term >= start->term)
            ++term_regressions;
        start_terms[self] = start->term;
      } else if (std::holds_alternative<act::stop_duty>(a)) {
        st.stop_done = now + rnd(0, 800);
      }
    }
    check_invariant();
  }

  void check_invariant() {
    int running = 0;
    for (const auto& [n, st] : nodes)
      if (st.alive && st.running)
        ++running;
    max_running = std::max(max_running, running);
  }

  /// Advances to `until`, delivering messages, stops and ticks in time order.
  void advance(tp until) {
    while (true) {
      auto next = until;
      for (const auto& e : queue)
        next = std::min(next, e.at);
      for (const auto& [n, st] : nodes)
        if (st.alive && st.stop_done)
          next = std::min(next, *st.stop_done);
      auto next_tick = now + 100ms;
      next = std::min(next, next_tick);
      now = next;
      for (auto& [n, st] : nodes)
        if (st.alive && st.stop_done && *st.stop_done <= now) {
          st.stop_done.reset();
          st.running = false;
          run_actions(n, st.rule->on_stopped());
        }
      std::vector<envelope> due;
      std::vector<envelope> later;
      for (auto& e : queue)
        (e.at <= now ? due : later).push_back(std::move(e));
      queue = std::move(later);
      for (auto& e : due) {
        auto& to = nodes[e.to];
        bool sender_gone = nodes[e.from].incarnation != e.from_inc;
        if (!to.alive || to.incarnation != e.to_inc || sender_gone)
          continue;
        run_actions(e.to, e.apply(*to.rule));
      }
      if (now == next_tick)
        for (auto& [n, st] : nodes)
          if (st.alive)
            run_actions(n, st.rule->tick(now));
      if (now >= until)
        return;
    }
  }
};

} // namespace

CAF_TEST(random deaths returns step - downs and resumes never run two duty processes) {
  for (unsigned seed = 1; seed <= 40; ++seed) {
    sim s{seed};
    s.advance(t0 + 5s);
    for (int step = 0; step < 30; ++step) {
      auto victim = five[std::uniform_int_distribution<size_t>{0, 4}(s.rng)];
      auto& st = s.nodes[victim];
      int alive = 0;
      for (const auto& [n, x] : s.nodes)
        alive += x.alive ? 1 : 0;
      auto coin = std::uniform_int_distribution<int>{0, 3}(s.rng);
      if (st.alive && coin == 0 && !st.rule->stepped_down() &&
          (st.rule->role() == duty_role::standby || st.rule->has_successor()))
        s.run_actions(victim, st.rule->step_down()); // as the leader allows it
      else if (st.alive && coin == 1 && st.rule->stepped_down())
        s.run_actions(victim, st.rule->resume());
      else if (st.alive && alive > 1)
        s.kill(victim);
      else if (!st.alive)
        s.boot(victim);
      s.advance(s.now + s.rnd(50, 3000));
    }
    for (const auto& n : five)
      if (s.nodes[n].alive)
        s.run_actions(n, s.nodes[n].rule->resume());
    s.advance(s.now + 20s);
    CAF_CHECK_EQUAL(s.max_running, 1);
    CAF_CHECK_EQUAL(s.term_regressions, 0);
    CAF_CHECK_EQUAL(s.stepped_down_starts, 0);
    std::string first_alive;
    for (const auto& n : five)
      if (s.nodes[n].alive) {
        first_alive = n;
        break;
      }
    for (const auto& [n, st] : s.nodes) {
      if (!st.alive)
        continue;
      if (n == first_alive) {
        CAF_CHECK(st.running);
        CAF_CHECK(st.rule->role() == duty_role::holder);
      } else {
        CAF_CHECK(!st.running);
        CAF_CHECK(st.rule->role() == duty_role::standby);
      }
    }
  }
}
