#include "actors/verdict_tracker.hpp"

#include <algorithm>

namespace montana {

verdict_tracker::verdict_tracker(int rise, int fall)
    : rise_(std::max(1, rise)), fall_(std::max(1, fall)) {}

bool verdict_tracker::observe(bool ok) {
  auto before = value_;
  if (ok) {
    failures_ = 0;
    ++successes_;
    if (value_ != verdict::dead || successes_ >= rise_)
      value_ = verdict::alive;
  } else {
    successes_ = 0;
    ++failures_;
    if (failures_ >= fall_)
      value_ = verdict::dead;
    else if (value_ == verdict::alive)
      value_ = verdict::suspect;
  }
  return value_ != before;
}

bool verdict_tracker::observe_unanswered() {
  auto before = value_;
  successes_ = 0;
  if (failures_ < fall_ - 1)
    ++failures_;
  if (value_ == verdict::alive)
    value_ = verdict::suspect;
  return value_ != before;
}

bool verdict_tracker::reset() {
  auto before = value_;
  value_ = verdict::unknown;
  successes_ = 0;
  failures_ = 0;
  return value_ != before;
}

bool verdict_tracker::force_alive() {
  auto before = value_;
  value_ = verdict::alive;
  failures_ = 0;
  successes_ = std::max(successes_, rise_);
  return value_ != before;
}

} // namespace montana
