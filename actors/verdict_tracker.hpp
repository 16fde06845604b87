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
/// Only `dead` lets a lower node take a duty, so `suspect` absorbs single lost checks. A check
/// left unanswered over a link that is still up (observe_unanswered) counts at most up to
/// fall-1: it makes a peer suspect, never dead, and the first failure after the link is lost
/// completes the count. The same holds for a failure that another node contradicts (an indirect
/// probe: its link to the peer is still up): before the failure that would be the last step
/// (`would_fall`), the probe asks, and a peer someone still sees stays suspect (or unknown).
class verdict_tracker {
public:
  verdict_tracker(int rise, int fall);

  /// Feeds one check outcome; returns true when the verdict changed.
  bool observe(bool ok);

  /// A failed check that is no evidence of death: the peer is still linked (the peer, or this
  /// node itself, may only be slow), or another node still sees it alive. Returns true when the
  /// verdict changed; it never becomes dead this way.
  bool observe_unanswered();

  /// Whether one more failed check would make the peer dead: the moment to ask the others.
  bool would_fall() const { return value_ != verdict::dead && failures_ + 1 >= fall_; }

  /// Forgets everything: `unknown`, as after a start (this node's network came back, so what
  /// it saw meanwhile says nothing about the others).
  bool reset();

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
