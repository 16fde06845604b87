// The seam between actors and operating-system processes: the bot-supervisor
// decides when a duty's process runs, a launcher makes it so. The real one is
// runtime/process_launcher; tests use a fake that records calls.
#pragma once

#include "messages/messages.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace montana {

/// What to run: argv[0] is a path, or a name looked up in this service's PATH.
struct launch_spec {
  std::vector<std::string> argv;
  /// Added to (or overriding) the environment the child inherits from us.
  std::map<std::string, std::string> env;
  /// Names the child in logs, e.g. "moscow/bot".
  std::string tag;
};

/// Starts and signals child processes; results arrive as messages.
///
/// For each `start(id, ...)` the listener receives either `child_failed{id}`
/// (and nothing else), or `child_started{id}`, any number of `child_output{id}`
/// (one per line of stdout or stderr) and finally `child_exited{id}`, in that
/// order. Every child leads its own process group, and the group does not
/// outlive the child: whatever is left of it when the child exits is killed.
/// Implementations are thread-safe.
class launcher {
public:
  virtual ~launcher() = default;

  /// A fresh child id; ids come from the launcher so several supervisors can share one.
  uint64_t new_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  /// Starts `spec` asynchronously as child `id`, reporting to `listener`.
  virtual void start(uint64_t id, launch_spec spec, caf::actor listener) = 0;

  /// Sends `sig` to child `id`'s whole process group, at once and from the
  /// calling thread. A signal for a child that is still being spawned is
  /// delivered right after the spawn; for a child that is gone it is a no-op.
  virtual void signal(uint64_t id, int sig) = 0;

private:
  std::atomic<uint64_t> next_id_{1};
};

using launcher_ptr = std::shared_ptr<launcher>;

} // namespace montana
