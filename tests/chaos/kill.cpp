// kill -9 of a service in the five-host chaos cluster (support/chaos_cluster.hpp), its duty
// polling the Telegram stand-in over HTTPS with a test CA: the next node takes over, the
// returning holder takes its duty back and answers a user again, a standby's death moves
// nothing, and the stand-in never sees two pollers at once.
#define CAF_SUITE chaos.kill
// ctest-labels: chaos
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"
#include "support/cluster.hpp"

#include <algorithm>

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(the holder killed - the next node polls and the holder takes back and never two at once) {
  chaos_plan plan;
  plan.https = true;
  auto c = settled_chaos_cluster(plan);
  if (!c)
    return;
  auto r = chaos_trial(*c, {fault_kind::kill, "amsterdam", {}, 6s});
  CAF_CHECK_EQUAL(r.holder_before, "amsterdam");
  CAF_CHECK_EQUAL(r.new_holder, "moscow");
  CAF_CHECK_GREATER_OR_EQUAL(r.takeover_us, 0);
  check_one_poller(*c, r);
  // The bot answers again once the holder is back.
  GUARD_REQUIRE(c->telegram().user_says("are you there?") > 0);
  CAF_CHECK(wait_until(
      [&] {
        auto said = c->telegram().replies();
        return std::find(said.begin(), said.end(), "echo: are you there?") != said.end();
      },
      30s));
}

CAF_TEST(a standby killed - nothing moves) {
  auto c = settled_chaos_cluster();
  if (!c)
    return;
  auto r = chaos_trial(*c, {fault_kind::kill, "almaty", {}, 4s});
  CAF_CHECK_EQUAL(r.takeover_us, -1);
  CAF_CHECK_EQUAL(r.during.nodes, std::vector<std::string>{"amsterdam"});
  check_one_poller(*c, r);
}
