// 150 ms RTT between every two hosts (montana-wan-relay, 75 ms each way, 5 ms jitter): the five
// services form their mesh and settle, the killed holder's duty moves to moscow and back,
// never two pollers at once.
// KNOWN FAILING on today's code (issue 15): the mesh takes 15-25 s to form (a dial is dropped
// when its handshakes are not done by the first heartbeat tick), and the returning holder often
// polls beside moscow for seconds before the two holders sort themselves out.
#define CAF_SUITE chaos.wan_150ms
// ctest-labels: chaos chaos-known-failing
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(at 150 ms RTT the holder killed - one poller at a time) {
  chaos_plan plan;
  plan.delay_ms = 75;
  plan.jitter_ms = 5;
  auto c = settled_chaos_cluster(plan);
  if (!c)
    return;
  CAF_CHECK(c->wait_for_mesh(30s));
  auto r = chaos_trial(*c, {fault_kind::kill, "amsterdam", {}, 6s});
  CAF_CHECK_EQUAL(r.new_holder, "moscow");
  check_one_poller(*c, r);
}
