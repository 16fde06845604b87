// The judge of the chaos suites (support/poll_log.hpp) on hand-written stand-in logs.
#define CAF_SUITE chaos.poll_log
// ctest-labels: unit
#include "caf/test/dsl.hpp"

#include "support/poll_log.hpp"

#include <nlohmann/json.hpp>

using namespace montana::testing;

namespace {

constexpr int64_t s = 1'000'000;
constexpr int64_t join = 2 * s;

/// The start and end lines of one getUpdates by `node` (pid `pid`, none when 0) from `start`
/// to `end` seconds; `end` < 0 leaves it open.
std::string poll(int id, const std::string& node, int pid, double start, double end,
                 int status = 200, const std::string& outcome = "empty") {
  nlohmann::json head{{"event", "start"},
                      {"id", id},
                      {"method", "getUpdates"},
                      {"peer", "198.18.0.9"},
                      {"start_us", static_cast<int64_t>(start * s)}};
  if (pid != 0) {
    head["node"] = node;
    head["pid"] = std::to_string(pid);
  }
  auto out = head.dump() + "\n";
  if (end >= 0) {
    auto tail = head;
    tail["event"] = "end";
    tail["end_us"] = static_cast<int64_t>(end * s);
    tail["status"] = status;
    tail["outcome"] = outcome;
    out += tail.dump() + "\n";
  }
  return out;
}

} // namespace

CAF_TEST(one poller polling back to back is one session and leaves no gap) {
  auto log = poll(1, "amsterdam", 10, 0, 10) + poll(2, "amsterdam", 10, 10.01, 20) +
             poll(3, "amsterdam", 10, 20.02, 30);
  auto polls = parse_polls(log, {}, 100 * s);
  CAF_REQUIRE_EQUAL(polls.size(), 3u);
  CAF_CHECK_EQUAL(polls[0].poller, "amsterdam/10");
  CAF_CHECK_EQUAL(polls[0].node, "amsterdam");
  CAF_CHECK_EQUAL(polling_sessions(polls, join).size(), 1u);
  auto v = judge_polls(polls, 0, 30 * s, join);
  CAF_CHECK_EQUAL(v.overlap_us, 0);
  CAF_CHECK_EQUAL(v.most_pollers, 1);
  CAF_CHECK_EQUAL(v.longest_gap_us, 0);
  CAF_CHECK_EQUAL(v.nodes, std::vector<std::string>{"amsterdam"});
}

CAF_TEST(a hand - over leaves a gap and no overlap) {
  // amsterdam's duty is killed at 12 s (its poll ends "gone"), moscow polls from 12.5 s.
  auto log = poll(1, "amsterdam", 10, 0, 10) + poll(2, "amsterdam", 10, 10, 12, 0, "gone") +
             poll(3, "moscow", 20, 12.5, 22.5) + poll(4, "moscow", 20, 22.5, -1);
  auto polls = parse_polls(log, {}, 30 * s);
  CAF_REQUIRE_EQUAL(polls.size(), 4u);
  CAF_CHECK_EQUAL(polls[3].outcome, "open");
  CAF_CHECK_EQUAL(polls[3].end_us, 30 * s);
  auto v = judge_polls(polls, 5 * s, 30 * s, join);
  CAF_CHECK_EQUAL(v.overlap_us, 0);
  CAF_CHECK_EQUAL(v.longest_gap_us, s / 2);
  CAF_CHECK_EQUAL(v.nodes, (std::vector<std::string>{"amsterdam", "moscow"}));
  std::string by;
  CAF_CHECK_EQUAL(takeover_after(polls, 11 * s, "amsterdam", &by), 1'500'000);
  CAF_CHECK_EQUAL(by, "moscow");
  CAF_CHECK_EQUAL(takeover_after(polls, 23 * s, "amsterdam"), -1);
  CAF_CHECK_EQUAL(sole_poller(polls, 25 * s, 30 * s, join), "moscow");
  CAF_CHECK_EQUAL(sole_poller(polls, 11 * s, 30 * s, join), "");
  // A poller whose last poll ended is no sole poller, however recently it polled.
  CAF_CHECK_EQUAL(sole_poller(polls, 9 * s, 12 * s + 200000, join), "");
}

CAF_TEST(two pollers taking turns with 409s overlap for the whole stretch) {
  // moscow polls beside amsterdam from 10 s to 20 s: each poll ends the other's with a 409
  // and each poller polls again a second later.
  std::string log = poll(1, "amsterdam", 10, 0, 10, 409, "conflict");
  int id = 2;
  for (int t = 10; t < 20; t += 2) {
    log += poll(id++, "moscow", 20, t, t + 1, 409, "conflict");
    log += poll(id++, "amsterdam", 10, t + 1, t + 2, 409, "conflict");
  }
  log += poll(id++, "amsterdam", 10, 20, 30);
  auto polls = parse_polls(log, {}, 40 * s);
  auto v = judge_polls(polls, 0, 30 * s, join);
  CAF_CHECK_EQUAL(v.overlap_us, 9 * s);
  CAF_CHECK_EQUAL(v.longest_overlap_us, 9 * s);
  CAF_CHECK_EQUAL(v.most_pollers, 2);
  CAF_CHECK_EQUAL(v.conflicts, 11);
  // A window inside the stretch counts only its own part.
  CAF_CHECK_EQUAL(judge_polls(polls, 12 * s, 14 * s, join).overlap_us, 2 * s);
}

CAF_TEST(a poller that pauses longer than the join starts a new session) {
  auto log = poll(1, "spb", 30, 0, 1) + poll(2, "spb", 30, 5, 6);
  auto polls = parse_polls(log, {}, 10 * s);
  CAF_CHECK_EQUAL(polling_sessions(polls, join).size(), 2u);
  CAF_CHECK_EQUAL(judge_polls(polls, 0, 6 * s, join).longest_gap_us, 4 * s);
}

CAF_TEST(pollers that do not name themselves are named by their host) {
  auto log = poll(1, "", 0, 0, 1);
  auto polls = parse_polls(
      log, [](const std::string& a) { return a == "198.18.0.9" ? "almaty" : ""; }, 10 * s);
  CAF_REQUIRE_EQUAL(polls.size(), 1u);
  CAF_CHECK_EQUAL(polls[0].poller, "almaty");
  CAF_CHECK_EQUAL(polls[0].node, "almaty");
  // Without a name for the address the address itself is the poller.
  auto unnamed = parse_polls(log, {}, 10 * s);
  CAF_CHECK_EQUAL(unnamed.at(0).poller, "198.18.0.9");
}

CAF_TEST(other methods and broken lines are ignored) {
  auto log = std::string{"{\"event\":\"start\",\"id\":9,\"method\":\"sendMessage\"}\n"} +
             "not json\n" + poll(1, "moscow", 5, 0, 1) + "{\"event\":\"end\",\"id\":";
  CAF_CHECK_EQUAL(parse_polls(log, {}, 10 * s).size(), 1u);
}
