// Four of five hosts off the network, almaty left: almaty polls; when the four come back, the
// head of the chain takes over without two pollers at once. The four see their own network down
// and neither keep nor take the duty (issue 15; failed before: each judged everyone dead and
// kept or took the duty, up to five pollers after the heal).
#define CAF_SUITE chaos.four_of_five
// ctest-labels: chaos
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(four of five isolated - the one left polls and then the head alone) {
  auto c = settled_chaos_cluster();
  if (!c)
    return;
  auto r = chaos_trial(*c, {fault_kind::four_of_five, "amsterdam", {"almaty"}, 10s});
  CAF_CHECK_EQUAL(r.new_holder, "almaty");
  check_one_poller(*c, r);
}
