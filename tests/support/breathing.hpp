// One breath on a git_port as the breather runs it, for tests and the crash helper (no CAF test
// macros in here: the helper program includes it too).
#pragma once

#include "runtime/git_port.hpp"

#include <chrono>
#include <cstdlib>
#include <string>

namespace montana::testing {

/// Points runtime/git_transfer at the transfer program of this build: tests and benchmarks run
/// from the build tree, where it is not next to them.
inline void use_built_transfer() {
  ::setenv("MONTANA_GIT_TRANSFER", MONTANA_GIT_TRANSFER_PATH, 0);
}

/// The limit of the tests' fetches and pushes.
inline constexpr std::chrono::milliseconds net{30000};

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
  port.exhale("[sync] " + utc, utc, sync_mode::follow);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    port.fetch(net);
    port.inhale(utc, sync_mode::follow);
    if (port.push(net).pushed)
      return true;
  }
  return false;
}

} // namespace montana::testing
