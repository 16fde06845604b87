// One breath on a git_port as the breather runs it, for tests and the crash helper (no CAF test
// macros in here: the helper program includes it too).
#pragma once

#include "runtime/git_port.hpp"

#include <string>

namespace montana::testing {

/// Breath settings for the clone `repo` of `node`: remote origin, branch main, the default synced
/// paths, author "montana <node>".
inline breath_settings breath_settings_for(const std::string& repo, const std::string& node) {
  breath_settings settings;
  settings.repo = repo;
  settings.author_name = "montana " + node;
  settings.author_email = node + "@montana.network";
  return settings;
}

/// exhale, fetch, inhale, push; a non-fast-forward refusal fetches, inhales and pushes again, up
/// to `attempts` pushes. Returns whether the push went through; throws what a step throws.
inline bool breathe(breath_port& port, const std::string& utc, int attempts = 3) {
  port.exhale("[sync] " + utc, utc);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    port.fetch();
    port.inhale(utc);
    if (port.push().pushed)
      return true;
  }
  return false;
}

} // namespace montana::testing
