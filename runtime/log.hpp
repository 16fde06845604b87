// Process-wide logging through spdlog, and the recent lines the shell's `log` shows.
#pragma once

#include "actors/log_feed.hpp"

#include <string>
#include <vector>

namespace montana {

/// Logs to stderr, one line per event, at `level` (trace, debug, info, warn, error, off), and
/// keeps the recent lines for node_log().
void setup_logging(const std::string& level);

/// Changes the level of the default logger (SIGHUP reload); false for an unknown level.
bool set_log_level(const std::string& level);

/// Makes the default logger keep its recent lines for node_log() too, if it does not yet (for
/// processes that did not call setup_logging: the tests). Idempotent.
void attach_log_ring();

/// The log of node `node` as the shell sees it: every line of this process except those whose
/// tag (`[moscow ...]`, `[moscow/bot]`) names another node of `cluster` — several nodes share one
/// process in the demo and the tests.
log_feed_ptr node_log(const std::string& node, const std::vector<std::string>& cluster);

} // namespace montana
