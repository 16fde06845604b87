// The faults of the chaos suites and of montana-bench-chaos, as trials on a chaos_cluster: make
// the fault, hold it, undo it, wait until the cluster is back on the head of the chain, and
// judge the stretch from the stand-in's log. Suites run fixed trials and check the verdict;
// the benchmark runs random ones and prints figures.
#pragma once

#include "support/chaos_cluster.hpp"
#include "support/poll_log.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace montana::testing {

enum class fault_kind {
  /// SIGKILL of the target's service; started again at the end of the hold.
  kill,
  /// SIGSTOP of the target's service (its duty process runs on); SIGCONT at the end.
  freeze,
  /// The target's host off the network (switch port down), then back.
  isolate,
  /// The link target <-> others[0] cut both ways; everyone else sees both.
  cut,
  /// Only packets from target to others[0] dropped.
  cut_one_way,
  /// target and `others` on one side, the rest on the other, both sides still reaching the
  /// stand-in; healed at the end.
  partition,
  /// Every node but others[0] off the network, then back.
  four_of_five,
  /// SIGTERM to the target's service (an orderly leave), started again at the end.
  restart,
  /// Every service killed, then all five started at once.
  cold_start,
};

std::string_view to_string(fault_kind k);
std::optional<fault_kind> parse_fault_kind(std::string_view text);
/// Every kind, in declaration order.
std::vector<fault_kind> all_fault_kinds();

/// One trial: which fault, on whom, for how long.
struct fault_trial {
  fault_kind kind = fault_kind::kill;
  std::string target;
  std::vector<std::string> others;
  std::chrono::milliseconds hold{5000};
};

/// "isolate amsterdam for 5.0 s", "cut amsterdam-moscow for 4.0 s".
std::string describe(const fault_trial& t);

/// What the stand-in's log says about one trial.
struct trial_result {
  /// Who polled alone before the fault (empty for a cold start).
  std::string holder_before;
  /// Wall clock, microseconds: the fault made, undone, and the cluster settled (or gave up).
  int64_t fault_us = 0;
  int64_t heal_us = 0;
  int64_t end_us = 0;
  /// The head of the chain was polling alone again by end_us.
  bool settled = false;
  /// From the fault to the first poll by another node before the heal; for a cold start from
  /// the start to the first poll. -1 when none.
  int64_t takeover_us = -1;
  std::string new_holder;
  /// [fault, heal] (not judged for a cold start) and [heal, end].
  poll_verdict during;
  poll_verdict after;
};

/// Waits until the head of the chain alone has polled for 3 s and no other node holds, claims
/// or releases the duty by its own status; false after `timeout`.
bool settle(chaos_cluster& c, std::chrono::milliseconds timeout);

/// Runs `t` on a settled cluster and judges it; waits up to `settle_timeout` after the heal.
trial_result run_trial(chaos_cluster& c, const fault_trial& t,
                       std::chrono::milliseconds settle_timeout);

/// One line about a trial's result, for test messages and the benchmark's log.
std::string describe(const trial_result& r);

} // namespace montana::testing
