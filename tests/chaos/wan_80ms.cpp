// 80 ms RTT between every two hosts (montana-wan-relay, 40 ms each way, 5 ms jitter): the five
// services form their mesh and settle, the killed holder's duty moves to moscow and back,
// never two pollers at once.
// KNOWN FAILING on today's code, intermittently (issue 15): in one trial of five the returning
// holder polled beside moscow for 12 s before the two holders sorted themselves out
// (docs/benchmarks.md, 80 ms RTT).
#define CAF_SUITE chaos.wan_80ms
// ctest-labels: chaos chaos-known-failing
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(at 80 ms RTT the holder killed - one poller at a time) {
  chaos_plan plan;
  plan.delay_ms = 40;
  plan.jitter_ms = 5;
  auto c = settled_chaos_cluster(plan);
  if (!c)
    return;
  CAF_CHECK(c->wait_for_mesh(30s));
  auto r = chaos_trial(*c, {fault_kind::kill, "amsterdam", {}, 6s});
  CAF_CHECK_EQUAL(r.new_holder, "moscow");
  check_one_poller(*c, r);
}
