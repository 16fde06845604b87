// The holder's host off the network (its switch port down), then back. The next node takes
// over; the returning holder takes its duty back without two pollers at once: it stopped its
// duty when its network went down and, back, hears who holds it before it claims (issue 15;
// failed before: both polled after the return until `rise` probe rounds sorted them out).
#define CAF_SUITE chaos.isolation
// ctest-labels: chaos
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(an isolated holder - the next node polls and the holder back takes over alone) {
  auto c = settled_chaos_cluster();
  if (!c)
    return;
  auto r = chaos_trial(*c, {fault_kind::isolate, "amsterdam", {}, 8s});
  CAF_CHECK_EQUAL(r.new_holder, "moscow");
  check_one_poller(*c, r);
}
