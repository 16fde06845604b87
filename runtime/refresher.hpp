// A thread that calls a function every period: the node re-reads its identity files with it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

namespace montana {

/// Calls `refresh` every `period` on a thread of its own, from construction until destruction
/// (which waits for a call in progress). An exception from `refresh` is logged and the calls go
/// on.
///
/// Not a detached actor: in CAF 0.17 a detached actor that keeps sending itself delayed messages
/// can, if it is told to exit at the wrong moment, stay referenced forever, and ~actor_system
/// then waits for its thread forever (CAF issue #1196, fixed in 0.18).
class refresher {
public:
  refresher(std::function<void()> refresh, std::chrono::milliseconds period);

private:
  std::mutex mutex_;
  std::condition_variable_any wake_;
  // Last: it runs as soon as it is constructed and uses the members above.
  std::jthread thread_;
};

} // namespace montana
