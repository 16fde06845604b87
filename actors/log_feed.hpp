// The seam between a node's log and the shell's `log` and `log -f`: runtime/log.* keeps the
// recent lines of the process and hands them out per node.
#pragma once

#include "messages/messages.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace montana {

/// Recent log lines of one node, and a live feed of new ones. Thread-safe.
class log_feed {
public:
  virtual ~log_feed() = default;
  /// The last `n` lines, oldest first.
  virtual std::vector<log_line> recent(size_t n) = 0;
  /// Sends every new line to `who` as a `log_line` until unfollow(); returns the follow's id.
  virtual uint64_t follow(caf::actor who) = 0;
  virtual void unfollow(uint64_t id) = 0;
};

using log_feed_ptr = std::shared_ptr<log_feed>;

} // namespace montana
