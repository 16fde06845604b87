// Four of five hosts off the network, almaty left: almaty polls; when the four come back, the
// head of the chain takes over without two pollers at once.
// KNOWN FAILING on today's code (issue 15): each isolated node judges everyone dead and keeps or
// takes the duty; after the heal several poll at once until `rise` probe rounds sort them out.
#define CAF_SUITE chaos.four_of_five
// ctest-labels: chaos chaos-known-failing
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
