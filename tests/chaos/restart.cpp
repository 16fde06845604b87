// Restarts: the holder's service stopped with SIGTERM (its orderly leave) and started again;
// all five services killed and started at once (a cold start). One poller at a time
// throughout.
#define CAF_SUITE chaos.restart
// ctest-labels: chaos chaos-full
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(the holder restarted - the next node polls meanwhile and the holder takes back) {
  auto c = settled_chaos_cluster();
  if (!c)
    return;
  auto r = chaos_trial(*c, {fault_kind::restart, "amsterdam", {}, 5s});
  CAF_CHECK_EQUAL(r.new_holder, "moscow");
  check_one_poller(*c, r);
}

CAF_TEST(a cold start of all five - one poller from the start) {
  auto c = settled_chaos_cluster();
  if (!c)
    return;
  auto r = chaos_trial(*c, {fault_kind::cold_start, "amsterdam", {}, 2s});
  CAF_CHECK_EQUAL(r.new_holder, "amsterdam");
  check_one_poller(*c, r);
}
