// breather: keeps this node's clone of the shared repository in step with the others by
// breathing every `interval`: exhale (commit the synced paths), fetch, inhale (replay local
// commits on the remote branch), push; a push refused as non-fast-forward fetches, inhales
// and pushes again, at most `push_attempts` times per breath. Chain-leaders ask it for a
// hand-over breath before their duty starts and after it stopped (handover_breath), which also
// tells it who owns the synced working files (sync_mode).
//
// The git work runs on a detached worker of its own (the breath_port), so a slow remote never
// holds a CAF scheduler thread, a probe or a failover. A failed breath keeps every local
// commit (the next one pushes them), is logged with the step and the reason, and makes the
// breather back off: interval x 2^failures, capped at `backoff_max`. Before the first breath
// and after a failed one the port's prepare() reopens and repairs the clone.
#pragma once

#include "actors/breath_port.hpp"
#include "actors/settings.hpp"

#include <array>
#include <string>

namespace montana {

/// Upper bounds of the breath duration histogram (breath_status::buckets has one more entry for
/// breaths longer than the last bound).
inline constexpr std::array<int64_t, 13> breath_buckets_ms{
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};

struct breather_params {
  /// This node's name: in commit messages, conflict copies and log lines.
  std::string node;
  /// `[breath]` with `{node}` already expanded.
  breath_settings settings;
  breath_port_ptr port;
  /// false runs the port on the breather's scheduler (deterministic tests with a fake only).
  bool detached = true;
};

/// Pause before the next breath after `failures` failed breaths in a row.
duration breath_delay(const breath_settings& settings, int failures);

/// Commit message of a breath: "[sync] breathing <node> <UTC time, ISO 8601>".
std::string breath_message(const std::string& node, int64_t unix_us);

/// Compact UTC time for conflict copies, e.g. "20261122T004512Z".
std::string compact_utc(int64_t unix_us);

/// The one log line of a breath.
std::string describe(const breath_report& report);

/// Spawns the breather; its first breath starts at once. It answers
///   (history_atom) -> std::vector<breath_report>: the last `history` breaths, oldest first;
///   (breathe_atom) -> breath_report: breathes now (or right after the running breath) and
///                     answers with that breath's report;
///   handover_breath -> breath_report: a hand-over breath, now (a running fetch or push of a
///                     regular breath is cut short), bounded by `handover_timeout`; a taking
///                     one hands the synced files to the duty (sync_mode::hold) until the duty's
///                     releasing one;
///   (status_atom) -> breath_status; (inspect_atom) -> actor_info;
///   (subscribe_atom, actor): a node_event after every breath.
caf::actor spawn_breather(caf::actor_system& sys, breather_params params);

} // namespace montana
