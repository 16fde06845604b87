#define CAF_SUITE actors.breather
#include "caf/test/dsl.hpp"

#include "actors/breather.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/virtual_time.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace montana;
using namespace std::chrono_literals;

// The breath's order of steps, its bounded retry, backoff, history and log line, against a
// scripted git seam in virtual time. The real port has its own tests (runtime.git_port).

namespace {

struct config : caf::actor_system_config {
  config() { register_messages(*this); }
};

/// A clone whose steps succeed unless the test queued an outcome for them. `local` counts
/// commits not pushed yet; `remote` counts commits the remote has that we lack.
class fake_port : public breath_port {
public:
  std::vector<std::string> calls;
  /// Per step, outcomes for its next calls: "" succeeds, any other text fails with it.
  std::map<std::string, std::deque<std::string>> script;
  /// Outcomes of the next pushes: false = refused as non-fast-forward.
  std::deque<bool> pushes;
  /// Whether the next exhale finds a change to commit.
  bool changed = false;
  uint64_t local = 0;
  uint64_t remote = 0;
  std::vector<std::string> exhale_messages;
  inhale_result next_inhale;
  exhale_result next_exhale;

  std::string prepare() override {
    step("prepare");
    return repaired;
  }

  exhale_result exhale(const std::string& message, const std::string&, sync_mode mode) override {
    step("exhale");
    exhale_messages.push_back(message);
    modes.push_back(mode);
    exhale_result out = std::exchange(next_exhale, exhale_result{});
    if (changed) {
      changed = false;
      ++local;
      out.commit = "c" + std::to_string(local);
    }
    return out;
  }

  uint64_t fetch(std::chrono::milliseconds limit) override {
    limits.push_back(limit);
    step("fetch");
    return remote;
  }

  inhale_result inhale(const std::string&, sync_mode mode) override {
    modes.push_back(mode);
    step("inhale");
    remote = 0;
    return std::exchange(next_inhale, inhale_result{});
  }

  push_result push(std::chrono::milliseconds limit) override {
    limits.push_back(limit);
    step("push");
    bool ok = pushes.empty() || pushes.front();
    if (!pushes.empty())
      pushes.pop_front();
    if (!ok)
      return {false, 0};
    return {true, std::exchange(local, 0)};
  }

  uint64_t ahead() override {
    step("ahead");
    return local;
  }

  void interrupt() override { ++interrupts; }

  /// The sync mode of every exhale and inhale, and the limit of every fetch and push.
  std::vector<sync_mode> modes;
  std::vector<std::chrono::milliseconds> limits;
  int interrupts = 0;

  std::string repaired;

private:
  void step(const std::string& name) {
    calls.push_back(name);
    auto& queued = script[name];
    if (queued.empty())
      return;
    auto outcome = queued.front();
    queued.pop_front();
    if (!outcome.empty())
      throw std::runtime_error{outcome};
  }
};

struct fixture : test_coordinator_fixture<config> {
  std::shared_ptr<fake_port> port = std::make_shared<fake_port>();
  breath_settings settings;
  caf::actor breather;
  test::spawned_actors spawned;

  fixture() {
    settings.interval = 12s;
    settings.backoff_max = 60s;
    settings.push_attempts = 3;
    settings.step_timeout = 5s;
    settings.history = 3;
  }

  ~fixture() override { spawned.end_all(*this); }

  void start() {
    breather = spawned.add(spawn_breather(sys, breather_params{"moscow", settings, port, false}));
    consume_messages();
  }

  void pass(caf::timespan d) { test::pass_time(*this, d); }

  std::vector<breath_report> history() {
    self->send(breather, history_atom::value);
    consume_messages();
    std::vector<breath_report> out;
    self->receive([&](std::vector<breath_report>& h) { out = std::move(h); });
    return out;
  }

  /// The calls since the last time this was asked.
  std::vector<std::string> calls() { return std::exchange(port->calls, {}); }
};

using steps = std::vector<std::string>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(breather_tests, fixture)

CAF_TEST(the first breath prepares the clone and runs at once) {
  port->changed = true;
  port->remote = 2;
  start();
  CAF_CHECK_EQUAL(calls(), (steps{"prepare", "exhale", "fetch", "inhale", "ahead", "push"}));
  auto h = history();
  CAF_REQUIRE_EQUAL(h.size(), 1u);
  CAF_CHECK(h[0].ok);
  CAF_CHECK_EQUAL(h[0].seq, 1u);
  CAF_CHECK_EQUAL(h[0].commits_in, 2u);
  CAF_CHECK_EQUAL(h[0].commits_out, 1u);
  CAF_CHECK_EQUAL(h[0].push_attempts, 1u);
  CAF_CHECK_EQUAL(h[0].pending, 0u);
  CAF_REQUIRE_EQUAL(port->exhale_messages.size(), 1u);
  CAF_CHECK(port->exhale_messages[0].starts_with("[sync] breathing moscow "));
}

CAF_TEST(breaths follow every interval and skip the push when nothing is ahead) {
  start();
  CAF_CHECK_EQUAL(calls(), (steps{"prepare", "exhale", "fetch", "inhale", "ahead"}));
  pass(11s);
  CAF_CHECK(calls().empty());
  pass(1s);
  CAF_CHECK_EQUAL(calls(), (steps{"exhale", "fetch", "inhale", "ahead"}));
  port->changed = true;
  pass(12s);
  CAF_CHECK_EQUAL(calls(), (steps{"exhale", "fetch", "inhale", "ahead", "push"}));
  CAF_CHECK_EQUAL(history().size(), 3u);
}

CAF_TEST(a push refused as non - fast - forward fetches and inhales again within the breath) {
  port->changed = true;
  port->pushes = {false, false, true};
  start();
  CAF_CHECK_EQUAL(calls(), (steps{"prepare", "exhale", "fetch", "inhale", "ahead", "push", "fetch",
                                  "inhale", "ahead", "push", "fetch", "inhale", "ahead", "push"}));
  auto h = history();
  CAF_REQUIRE_EQUAL(h.size(), 1u);
  CAF_CHECK(h[0].ok);
  CAF_CHECK_EQUAL(h[0].push_attempts, 3u);
  CAF_CHECK_EQUAL(h[0].commits_out, 1u);
}

CAF_TEST(refusals are bounded; local commits are kept and the breather backs off) {
  port->changed = true;
  port->pushes = {false, false, false, false, false, false, false, false, false};
  start();
  auto h = history();
  CAF_REQUIRE_EQUAL(h.size(), 1u);
  CAF_CHECK(!h[0].ok);
  CAF_CHECK_EQUAL(h[0].failed_step, "push");
  CAF_CHECK_EQUAL(h[0].push_attempts, 3u);
  CAF_CHECK_EQUAL(h[0].pending, 1u);
  CAF_CHECK(h[0].error.find("non-fast-forward 3 times") != std::string::npos);
  CAF_CHECK_EQUAL(port->local, 1u); // nothing dropped
  calls();
  // Backoff: 24 s after one failure (prepare first), then 48 s, then capped at 60 s.
  pass(23s);
  CAF_CHECK(calls().empty());
  pass(1s);
  CAF_CHECK_EQUAL(calls(), (steps{"prepare", "exhale", "fetch", "inhale", "ahead", "push", "fetch",
                                  "inhale", "ahead", "push", "fetch", "inhale", "ahead", "push"}));
  pass(47s);
  CAF_CHECK(calls().empty());
  pass(1s);
  CAF_CHECK_EQUAL(calls().size(), 14u);
  pass(59s);
  CAF_CHECK(calls().empty());
  pass(1s);
  // The remote takes the push at last: the kept commit goes out, the pace is back to 12 s.
  CAF_CHECK(port->pushes.empty());
  h = history();
  CAF_CHECK(h.back().ok);
  CAF_CHECK_EQUAL(h.back().commits_out, 1u);
  CAF_CHECK_EQUAL(port->local, 0u);
  calls();
  pass(12s);
  CAF_CHECK_EQUAL(calls(), (steps{"exhale", "fetch", "inhale", "ahead"}));
}

CAF_TEST(an unreachable remote fails the breath with its reason and keeps local commits) {
  port->changed = true;
  port->script["fetch"] = {"git fetch origin main [/srv/clone]: failed to resolve address"};
  start();
  auto h = history();
  CAF_REQUIRE_EQUAL(h.size(), 1u);
  CAF_CHECK(!h[0].ok);
  CAF_CHECK_EQUAL(h[0].failed_step, "fetch");
  CAF_CHECK_EQUAL(h[0].error, "git fetch origin main [/srv/clone]: failed to resolve address");
  CAF_CHECK_EQUAL(h[0].pending, 1u);
  CAF_CHECK_EQUAL(calls(), (steps{"prepare", "exhale", "fetch", "ahead"}));
  // Back: the next breath repairs first, then pushes the commit it kept.
  pass(24s);
  CAF_CHECK_EQUAL(calls(), (steps{"prepare", "exhale", "fetch", "inhale", "ahead", "push"}));
  h = history();
  CAF_CHECK(h.back().ok);
  CAF_CHECK_EQUAL(h.back().commits_out, 1u);
}

CAF_TEST(a missing repository is one error per breath and the breather lives on) {
  testing::log_capture log;
  port->script["prepare"] = {"git open [/srv/clone]: No such file or directory", "same again"};
  start();
  CAF_CHECK_EQUAL(calls(), (steps{"prepare"}));
  auto warnings = log.lines("warning");
  CAF_REQUIRE_EQUAL(warnings.size(), 1u);
  CAF_CHECK(warnings[0].find("breath 1: failed at prepare") != std::string::npos);
  CAF_CHECK(warnings[0].find("No such file or directory") != std::string::npos);
  CAF_CHECK(warnings[0].find("next breath in 24 s") != std::string::npos);
  pass(24s);
  CAF_CHECK_EQUAL(calls(), (steps{"prepare"}));
  pass(48s);
  CAF_CHECK_EQUAL(calls(), (steps{"prepare", "exhale", "fetch", "inhale", "ahead"}));
  CAF_CHECK(history().back().ok);
}

CAF_TEST(every breath is one log line and each conflict one more) {
  testing::log_capture log;
  port->changed = true;
  port->next_inhale.conflicts = {"data/users.json"};
  port->next_inhale.copies = {"data/users.conflict-moscow-20261122T010203Z.json"};
  port->repaired = "aborted an interrupted rebase";
  start();
  auto infos = log.lines("info");
  CAF_REQUIRE_EQUAL(infos.size(), 1u);
  CAF_CHECK(infos[0].find("[moscow] breath 1: ok in ") != std::string::npos);
  CAF_CHECK(infos[0].find("0 in, 1 out, 1 conflicts; repaired: aborted an interrupted rebase") !=
            std::string::npos);
  auto warnings = log.lines("warning");
  CAF_REQUIRE_EQUAL(warnings.size(), 1u);
  CAF_CHECK(warnings[0].find("conflict in data/users.json: the remote's values kept, the others in "
                             "data/users.conflict-moscow-20261122T010203Z.json (1 since start)") !=
            std::string::npos);
  auto h = history();
  CAF_CHECK_EQUAL(h[0].conflicts, (steps{"data/users.json"}));
  CAF_CHECK_EQUAL(h[0].repaired, "aborted an interrupted rebase");
  CAF_CHECK_EQUAL(h[0].conflicts_total, 1u);
  // The counter adds up across breaths.
  port->next_inhale.conflicts = {"data/users.json", "node_crypto/nodes.json"};
  pass(12s);
  // Named: CAF_CHECK_EQUAL keeps a reference to its argument, which must outlive the statement.
  auto last = history().back();
  CAF_CHECK_EQUAL(last.conflicts_total, 3u);
}

CAF_TEST(breathe now answers with the report of the breath it caused) {
  start();
  calls();
  pass(5s);
  port->changed = true;
  self->send(breather, breathe_atom::value);
  consume_messages();
  std::optional<breath_report> report;
  self->receive([&](breath_report& r) { report = std::move(r); });
  CAF_REQUIRE(report);
  CAF_CHECK_EQUAL(report->seq, 2u);
  CAF_CHECK_EQUAL(report->commits_out, 1u);
  CAF_CHECK_EQUAL(calls(), (steps{"exhale", "fetch", "inhale", "ahead", "push"}));
  // The pace restarts from that breath.
  pass(11s);
  CAF_CHECK(calls().empty());
  pass(1s);
  CAF_CHECK_EQUAL(calls().size(), 4u);
}

CAF_TEST(the history keeps the last breaths only) {
  start();
  pass(12s * 4);
  auto h = history();
  CAF_REQUIRE_EQUAL(h.size(), 3u);
  CAF_CHECK_EQUAL(h.front().seq, 3u);
  CAF_CHECK_EQUAL(h.back().seq, 5u);
}

CAF_TEST(hand - over breaths run at once and hand the synced files to the duty and back) {
  settings.handover_timeout = 4s;
  start();
  calls();
  port->modes.clear();
  pass(5s);
  auto handover = [&](bool taking) {
    self->send(breather, handover_breath{"bot", taking});
    consume_messages();
    std::optional<breath_report> report;
    self->receive([&](breath_report& r) { report = std::move(r); });
    CAF_REQUIRE(report);
    return *report;
  };
  // Before the duty starts: the files still follow the remote, and then belong to the duty.
  auto taking = handover(true);
  CAF_CHECK(taking.ok);
  CAF_CHECK_EQUAL(taking.handover, "taking bot");
  CAF_CHECK_EQUAL(calls(), (steps{"exhale", "fetch", "inhale", "ahead"}));
  CAF_CHECK_EQUAL(port->modes, (std::vector<sync_mode>{sync_mode::follow, sync_mode::follow}));
  // The network steps of a hand-over breath share its bound.
  CAF_REQUIRE(!port->limits.empty());
  CAF_CHECK(port->limits.back() <= std::chrono::milliseconds{4s});
  port->modes.clear();
  pass(12s);
  CAF_CHECK_EQUAL(port->modes, (std::vector<sync_mode>{sync_mode::hold, sync_mode::hold}));
  port->modes.clear();
  // After the process is gone: its last writes win, then the files follow the remote again.
  port->changed = true;
  auto releasing = handover(false);
  CAF_CHECK(releasing.ok);
  CAF_CHECK_EQUAL(releasing.handover, "releasing bot");
  CAF_CHECK_EQUAL(releasing.commits_out, 1u);
  CAF_CHECK_EQUAL(port->modes, (std::vector<sync_mode>{sync_mode::release, sync_mode::release}));
  port->modes.clear();
  pass(12s);
  CAF_CHECK_EQUAL(port->modes, (std::vector<sync_mode>{sync_mode::follow, sync_mode::follow}));
  self->send(breather, status_atom::value);
  consume_messages();
  self->receive([](breath_status& st) {
    CAF_CHECK_EQUAL(st.handovers, 2u);
    CAF_CHECK_EQUAL(st.handover_failures, 0u);
  });
}

CAF_TEST(a hand - over breath that fails is answered counted and logged and the files move on) {
  testing::log_capture log;
  start();
  calls();
  port->script["fetch"] = {"git fetch origin main [/srv/clone]: no answer within 10000 ms"};
  self->send(breather, handover_breath{"bot", true});
  consume_messages();
  std::optional<breath_report> report;
  self->receive([&](breath_report& r) { report = std::move(r); });
  CAF_REQUIRE(report);
  CAF_CHECK(!report->ok);
  CAF_CHECK_EQUAL(report->failed_step, "fetch");
  auto warnings = log.lines("warning");
  CAF_CHECK(std::any_of(warnings.begin(), warnings.end(), [](const std::string& line) {
    return line.find("hand-over breath (taking bot) failed at fetch") != std::string::npos &&
           line.find("the hand-over goes on") != std::string::npos;
  }));
  self->send(breather, status_atom::value);
  consume_messages();
  self->receive([](breath_status& st) { CAF_CHECK_EQUAL(st.handover_failures, 1u); });
  // The duty owns the files even so.
  port->modes.clear();
  pass(24s);
  CAF_REQUIRE(!port->modes.empty());
  CAF_CHECK(port->modes.front() == sync_mode::hold);
}

CAF_TEST(a synced file that did not parse is in the report and the log) {
  testing::log_capture log;
  port->next_exhale.broken = {"data/users.json"};
  port->next_exhale.restored = {"data/users.json"};
  start();
  auto h = history();
  CAF_REQUIRE_EQUAL(h.size(), 1u);
  CAF_CHECK_EQUAL(h[0].broken, (steps{"data/users.json"}));
  CAF_CHECK_EQUAL(h[0].restored, (steps{"data/users.json"}));
  CAF_CHECK(describe(h[0]).find("did not parse: data/users.json") != std::string::npos);
  auto warnings = log.lines("warning");
  CAF_CHECK(std::any_of(warnings.begin(), warnings.end(), [](const std::string& line) {
    return line.find("data/users.json did not parse: put back to the last good version") !=
           std::string::npos;
  }));
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(backoff doubles per failure up to its cap and never undercuts the interval) {
  breath_settings s;
  s.interval = 12s;
  s.backoff_max = 120s;
  CAF_CHECK_EQUAL(breath_delay(s, 0), duration{12s});
  CAF_CHECK_EQUAL(breath_delay(s, 1), duration{24s});
  CAF_CHECK_EQUAL(breath_delay(s, 3), duration{96s});
  CAF_CHECK_EQUAL(breath_delay(s, 4), duration{120s});
  CAF_CHECK_EQUAL(breath_delay(s, 1000), duration{120s});
  s.backoff_max = 5s;
  CAF_CHECK_EQUAL(breath_delay(s, 2), duration{12s});
}

CAF_TEST(commit messages and conflict copies carry the UTC time) {
  const int64_t t = 1795309565'123456; // 2026-11-22T01:06:05Z
  CAF_CHECK_EQUAL(breath_message("spb", t), "[sync] breathing spb 2026-11-22T01:06:05Z");
  CAF_CHECK_EQUAL(compact_utc(t), "20261122T010605Z");
}
