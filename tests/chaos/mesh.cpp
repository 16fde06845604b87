// The five services form their TLS mesh at WAN latency: each behind its relay
// (montana-wan-relay), listening on 127.0.0.1 in its host and dialed at its host's address.
// Before 2026-12-07 no link ever formed there: a dial left from the node's listening address,
// 127.0.0.1, and the connect to another host failed with EINVAL.
#define CAF_SUITE chaos.mesh
// ctest-labels: chaos
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(at 300 ms RTT the five services form a full mesh and settle on the head) {
  chaos_plan plan;
  plan.delay_ms = 150;
  plan.jitter_ms = 5;
  auto c = settled_chaos_cluster(plan);
  if (!c)
    return;
  CAF_CHECK(c->wait_for_mesh(30s));
  CAF_CHECK_EQUAL(c->fully_linked(), c->nodes());
}
