// The holder killed and back while two busy processes load the hosts' two cores: the next node
// takes over, the holder takes back, never two pollers at once.
#define CAF_SUITE chaos.load
// ctest-labels: chaos chaos-full
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(the holder killed on busy hosts - one poller at a time) {
  auto c = settled_chaos_cluster();
  if (!c)
    return;
  c->hog(2);
  auto r = chaos_trial(*c, {fault_kind::kill, "amsterdam", {}, 6s});
  c->hog(0);
  CAF_CHECK_EQUAL(r.new_holder, "moscow");
  check_one_poller(*c, r);
}
