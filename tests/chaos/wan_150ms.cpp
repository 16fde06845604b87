// 150 ms RTT between every two hosts (montana-wan-relay, 75 ms each way, 5 ms jitter): the five
// services form their mesh and settle; a cold start of all five and a killed holder's return
// keep one poller at a time.
// KNOWN FAILING on today's code, intermittently (issue 15): the mesh takes 10-16 s to form (a
// dial is dropped when its handshakes are not done by the first heartbeat tick), longer than
// the start-up delay and the unknown grace; a cold start had 2-5 pollers for 3.5-4.3 s in 5 of 5
// benchmark trials and in 1 of 4 runs of this suite, a kill's return overlapped in 1 of 6
// benchmark trials (docs/benchmarks.md, 150 ms RTT).
#define CAF_SUITE chaos.wan_150ms
// ctest-labels: chaos chaos-known-failing
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(at 150 ms RTT a cold start and the holder killed - one poller at a time) {
  chaos_plan plan;
  plan.delay_ms = 75;
  plan.jitter_ms = 5;
  auto c = settled_chaos_cluster(plan);
  if (!c)
    return;
  CAF_CHECK(c->wait_for_mesh(60s));
  auto cold = chaos_trial(*c, {fault_kind::cold_start, "amsterdam", {}, 1s});
  CAF_CHECK_EQUAL(cold.new_holder, "amsterdam");
  check_one_poller(*c, cold);
  CAF_CHECK(c->wait_for_mesh(60s));
  auto r = chaos_trial(*c, {fault_kind::kill, "amsterdam", {}, 6s});
  CAF_CHECK_EQUAL(r.new_holder, "moscow");
  check_one_poller(*c, r);
}
