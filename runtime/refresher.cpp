#include "runtime/refresher.hpp"

#include <spdlog/spdlog.h>

namespace montana {

refresher::refresher(std::function<void()> refresh, std::chrono::milliseconds period)
    : thread_([this, refresh = std::move(refresh), period](std::stop_token stop) {
        std::unique_lock lock{mutex_};
        // Sleeps a period at a time; true once the destructor asked the thread to stop.
        while (!wake_.wait_for(lock, stop, period, [&stop] { return stop.stop_requested(); })) {
          // A failed refresh (a full disk, say) must not end the refreshing.
          try {
            refresh();
          } catch (const std::exception& e) {
            spdlog::warn("identity refresh failed: {}", e.what());
          }
        }
      }) {}

} // namespace montana
