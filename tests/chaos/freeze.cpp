// SIGSTOP of the holder's service: the next node takes over, the thawed holder takes back.
// KNOWN FAILING on today's code: the frozen service's duty process runs on in its own process
// group and polls beside the new holder until the service thaws (issue 17, the Bot API
// gateway, is to fence it).
#define CAF_SUITE chaos.freeze
// ctest-labels: chaos chaos-known-failing
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(a frozen holder - the next node polls alone and the thawed holder takes back) {
  auto c = settled_chaos_cluster();
  if (!c)
    return;
  auto r = chaos_trial(*c, {fault_kind::freeze, "amsterdam", {}, 8s});
  CAF_CHECK_EQUAL(r.new_holder, "moscow");
  check_one_poller(*c, r);
}
