// Hysteresis for a probe: turns a stream of check outcomes into a verdict.
#pragma once

#include "messages/messages.hpp"

namespace montana {

/// Pure rise/fall counter (no CAF, no clock).
///
///   unknown --ok--> alive (first evidence is trusted: there is no flapping history yet)
///   unknown --fail x fall--> dead
///   alive --fail--> suspect --fail x (fall-1)--> dead
///   suspect --ok--> alive
///   dead --ok x rise--> alive   (a failure in between restarts the count)
///
/// Only `dead` lets a lower node take a duty, so `suspect` absorbs single lost checks.
class verdict_tracker {
public:
  verdict_tracker(int rise, int fall);

  /// Feeds one check outcome; returns true when the verdict changed.
  bool observe(bool ok);

  /// Direct evidence of life (e.g. the peer sent us a claim): alive at once.
  bool force_alive();

  /// New thresholds (a reload); the verdict and the counts so far stay.
  void retune(int rise, int fall) {
    rise_ = rise;
    fall_ = fall;
  }

  verdict value() const { return value_; }
  int successes() const { return successes_; }
  int failures() const { return failures_; }

private:
  int rise_;
  int fall_;
  verdict value_ = verdict::unknown;
  int successes_ = 0;
  int failures_ = 0;
};

} // namespace montana
