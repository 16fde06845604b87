// Letting virtual time pass in a test_coordinator_fixture the way real time would.
#pragma once

#include <caf/all.hpp>

#include <algorithm>
#include <vector>

namespace montana::test {

/// Advances the fixture's clock by `d`, stopping at every timer's due time and running whatever
/// it triggered before moving on. A single `advance_time(d)` would fire only the timers armed
/// before the call: a timer re-armed by its own handler (a tick, a retry after a timeout) would
/// fire at most once and then late, so virtual times asserted after it would be meaningless.
template <class Fixture>
void pass_time(Fixture& fx, caf::timespan d) {
  auto& clock = fx.sched.clock();
  auto end = clock.now() + d;
  for (;;) {
    fx.consume_messages();
    const auto& due = clock.schedule();
    if (due.empty() || due.begin()->first > end)
      break;
    fx.advance_time(std::max(caf::timespan::zero(), due.begin()->first - clock.now()));
  }
  if (end > clock.now())
    fx.advance_time(end - clock.now());
  fx.consume_messages();
}

/// The actors a test spawned, ended together from the fixture's destructor: before the fixture's
/// members go, since the actors hold references to them.
class spawned_actors {
public:
  caf::actor add(caf::actor hdl) {
    list_.push_back(hdl);
    return hdl;
  }

  template <class Fixture>
  void end_all(Fixture& fx) {
    for (auto& hdl : list_)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    fx.consume_messages();
  }

private:
  std::vector<caf::actor> list_;
};

} // namespace montana::test
