// What the Telegram stand-in's own log says about who polled when (tests/support/
// telegram_standin.py writes it): the judge of the chaos suites' invariant "never two pollers
// at once", and of takeover times and gaps. Pure functions of the log's lines.
//
// A poller polls from the start of each getUpdates that reached the stand-in until its end.
// Polls of one poller less than `join` apart (the pause of a bot that got an error, a 409
// included, and polls again) make one polling session. Two pollers at once = time covered by
// the sessions of two or more different pollers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace montana::testing {

/// One getUpdates request.
struct poll_record {
  /// Who polled: "NODE/PID" when the poller named itself (X-Montana-Node / X-Montana-Pid),
  /// else the host at its address, else the address.
  std::string poller;
  /// The host it came from (its node).
  std::string node;
  int64_t start_us = 0;
  /// The answer's time; for a poll still open, when the log was read.
  int64_t end_us = 0;
  /// HTTP status; 0 when the client left first or the poll is still open.
  int status = 0;
  /// updates, empty, conflict, gone or open.
  std::string outcome;
};

/// Every getUpdates in the log text `lines`, in order of start. `host_of` names the host of an
/// address (empty when unknown); a poll with a start line and no end yet is open until `now_us`.
std::vector<poll_record> parse_polls(const std::string& lines,
                                     const std::function<std::string(const std::string&)>& host_of,
                                     int64_t now_us);

/// A stretch of polling by one poller.
struct polling_session {
  std::string poller;
  std::string node;
  int64_t start_us = 0;
  int64_t end_us = 0;
};

/// The sessions of `polls`: each poller's polls merged where less than `join_us` apart.
std::vector<polling_session> polling_sessions(const std::vector<poll_record>& polls,
                                              int64_t join_us);

/// What the sessions say about the window [from_us, to_us].
struct poll_verdict {
  /// Time covered by two or more pollers at once, in total and its longest stretch.
  int64_t overlap_us = 0;
  int64_t longest_overlap_us = 0;
  /// Most pollers at once.
  int most_pollers = 0;
  /// Longest stretch with no poller.
  int64_t longest_gap_us = 0;
  /// 409 answers.
  int conflicts = 0;
  /// The nodes that polled, in order of their first poll.
  std::vector<std::string> nodes;
};

poll_verdict judge_polls(const std::vector<poll_record>& polls, int64_t from_us, int64_t to_us,
                         int64_t join_us);

/// Microseconds from `since_us` to the first poll at or after it by a node other than
/// `old_node`; -1 when there is none. That node in `by` if given.
int64_t takeover_after(const std::vector<poll_record>& polls, int64_t since_us,
                       const std::string& old_node, std::string* by = nullptr);

/// The node of the only poller since `since_us`, polling throughout and with a poll still open
/// at `now_us`; empty when there is none, or several.
std::string sole_poller(const std::vector<poll_record>& polls, int64_t since_us, int64_t now_us,
                        int64_t join_us);

} // namespace montana::testing
