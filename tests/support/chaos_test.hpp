// What the chaos suites share (include after caf/test/dsl.hpp): building the cluster or
// skipping with one message where this machine cannot make test hosts, and checking a trial.
#pragma once

#include "support/chaos_faults.hpp"
#include "support/guard.hpp"

#include <memory>

namespace montana::testing {

/// The message a chaos suite prints where it cannot run; empty where it can.
inline std::string chaos_skip_reason() {
  auto why = chaos_cluster::unavailable();
  return why.empty() ? why : "skipped: the chaos suites need network namespaces: " + why;
}

/// A chaos cluster for one test with its five services started and settled on the head of the
/// chain; null (after one "skipped:" message) where this machine cannot make test hosts.
inline std::unique_ptr<chaos_cluster> settled_chaos_cluster(chaos_plan plan = {}) {
  if (auto why = chaos_skip_reason(); !why.empty()) {
    CAF_MESSAGE(why);
    return nullptr;
  }
  std::unique_ptr<chaos_cluster> c;
  try {
    c = std::make_unique<chaos_cluster>(std::move(plan));
  } catch (const std::exception& e) {
    GUARD_FAIL("cannot build the chaos cluster: " << e.what());
  }
  // A failed requirement aborts the test binary: its guard removes the hosts, this the files.
  live_dir = c->dir();
  c->start_all();
  if (!settle(*c, std::chrono::seconds{60})) {
    CAF_MESSAGE(c->diagnostics());
    GUARD_FAIL("the five services never settled on " << c->nodes().front() << " polling alone");
  }
  return c;
}

/// Runs fault trial `t` on `c` and prints what happened.
inline trial_result chaos_trial(chaos_cluster& c, const fault_trial& t) {
  auto r = run_trial(c, t, std::chrono::seconds{60});
  CAF_MESSAGE(describe(t) << ": " << describe(r));
  return r;
}

/// The invariant on the stand-in's log: never two pollers at once, during the fault or after
/// it, and the cluster back on the head of the chain. Prints the diagnostics when it fails.
inline void check_one_poller(const chaos_cluster& c, const trial_result& r) {
  CAF_CHECK_EQUAL(r.during.overlap_us, 0);
  CAF_CHECK_EQUAL(r.after.overlap_us, 0);
  CAF_CHECK(r.settled);
  if (r.during.overlap_us != 0 || r.after.overlap_us != 0 || !r.settled)
    CAF_MESSAGE(c.diagnostics());
}

} // namespace montana::testing
