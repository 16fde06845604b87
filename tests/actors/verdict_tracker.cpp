#define CAF_SUITE actors.verdict_tracker
#include "caf/test/dsl.hpp"

#include "actors/verdict_tracker.hpp"

using namespace montana;

CAF_TEST(first success makes an unknown peer alive) {
  verdict_tracker t{3, 3};
  CAF_CHECK(t.value() == verdict::unknown);
  CAF_CHECK(t.observe(true));
  CAF_CHECK(t.value() == verdict::alive);
}

CAF_TEST(an unknown peer is dead only after fall failures) {
  verdict_tracker t{3, 3};
  CAF_CHECK(!t.observe(false));
  CAF_CHECK(!t.observe(false));
  CAF_CHECK(t.value() == verdict::unknown);
  CAF_CHECK(t.observe(false));
  CAF_CHECK(t.value() == verdict::dead);
}

CAF_TEST(one lost check makes an alive peer suspect not dead) {
  verdict_tracker t{2, 3};
  t.observe(true);
  CAF_CHECK(t.observe(false));
  CAF_CHECK(t.value() == verdict::suspect);
  CAF_CHECK(t.observe(true));
  CAF_CHECK(t.value() == verdict::alive);
  t.observe(false);
  t.observe(false);
  CAF_CHECK(t.value() == verdict::suspect);
  CAF_CHECK(t.observe(false));
  CAF_CHECK(t.value() == verdict::dead);
}

CAF_TEST(unanswered checks make a peer suspect and never dead) {
  verdict_tracker t{2, 3};
  t.observe(true);
  CAF_CHECK(t.observe_unanswered());
  CAF_CHECK(t.value() == verdict::suspect);
  for (int i = 0; i < 10; ++i)
    CAF_CHECK(!t.observe_unanswered());
  CAF_CHECK(t.value() == verdict::suspect);
  CAF_CHECK_EQUAL(t.failures(), 2);
  // The first failure without the link completes the count.
  CAF_CHECK(t.observe(false));
  CAF_CHECK(t.value() == verdict::dead);
  // A dead peer stays dead, with its count, and still needs rise successes.
  CAF_CHECK(!t.observe_unanswered());
  CAF_CHECK(t.value() == verdict::dead);
  CAF_CHECK_EQUAL(t.failures(), 3);
}

CAF_TEST(unanswered checks leave an unknown peer unknown) {
  verdict_tracker t{2, 1};
  for (int i = 0; i < 5; ++i)
    CAF_CHECK(!t.observe_unanswered());
  CAF_CHECK(t.value() == verdict::unknown);
  CAF_CHECK(t.observe(false));
  CAF_CHECK(t.value() == verdict::dead);
}

CAF_TEST(a dead peer needs rise consecutive successes) {
  verdict_tracker t{3, 1};
  t.observe(false);
  CAF_REQUIRE(t.value() == verdict::dead);
  t.observe(true);
  t.observe(true);
  t.observe(false);
  t.observe(true);
  t.observe(true);
  CAF_CHECK(t.value() == verdict::dead);
  CAF_CHECK(t.observe(true));
  CAF_CHECK(t.value() == verdict::alive);
}

CAF_TEST(direct evidence revives a dead peer at once) {
  verdict_tracker t{3, 2};
  t.observe(false);
  t.observe(false);
  CAF_REQUIRE(t.value() == verdict::dead);
  CAF_CHECK(t.force_alive());
  CAF_CHECK(t.value() == verdict::alive);
  CAF_CHECK(t.observe(false));
  CAF_CHECK(t.value() == verdict::suspect);
}

CAF_TEST(would_fall marks the failure that would be the last step) {
  verdict_tracker t{2, 3};
  t.observe(true);
  CAF_CHECK(!t.would_fall());
  t.observe(false);
  CAF_CHECK(!t.would_fall());
  t.observe(false);
  CAF_CHECK(t.would_fall());
  // Another node still sees it: the count stays one short of dead, and the next round asks again.
  t.observe_unanswered();
  CAF_CHECK(t.value() == verdict::suspect);
  CAF_CHECK(t.would_fall());
  CAF_CHECK(t.observe(false));
  CAF_CHECK(t.value() == verdict::dead);
  // Nothing left to decide about a dead peer.
  CAF_CHECK(!t.would_fall());
  // With fall 1 the first failure is the last step.
  verdict_tracker quick{1, 1};
  CAF_CHECK(quick.would_fall());
}

CAF_TEST(reset makes any verdict unknown with no counts) {
  verdict_tracker t{3, 2};
  t.observe(false);
  t.observe(false);
  CAF_REQUIRE(t.value() == verdict::dead);
  CAF_CHECK(t.reset());
  CAF_CHECK(t.value() == verdict::unknown);
  CAF_CHECK_EQUAL(t.failures(), 0);
  CAF_CHECK_EQUAL(t.successes(), 0);
  CAF_CHECK(!t.reset());
  // Afresh: the first success is trusted again, no rise needed.
  CAF_CHECK(t.observe(true));
  CAF_CHECK(t.value() == verdict::alive);
}
