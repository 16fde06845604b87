// A symmetric partition, {amsterdam, moscow} | {almaty, spb, novosibirsk}, in which both sides
// still reach Telegram: one side polls, never both.
// KNOWN FAILING on today's code: almaty's side judges both nodes above it dead and polls beside
// amsterdam until the partition heals. Issue 15 leaves this case to the Bot API gateway
// (issue 17), whose witness rule uses Telegram's 409 to pick one side.
#define CAF_SUITE chaos.partition
// ctest-labels: chaos chaos-known-failing
#include "caf/test/dsl.hpp"

#include "support/chaos_test.hpp"

using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(a partition with Telegram on both sides - one side polls) {
  auto c = settled_chaos_cluster();
  if (!c)
    return;
  auto r = chaos_trial(*c, {fault_kind::partition, "amsterdam", {"moscow"}, 10s});
  check_one_poller(*c, r);
}
