#define CAF_SUITE runtime.refresher
#include "caf/test/dsl.hpp"

#include "runtime/refresher.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

using namespace montana;
using namespace std::chrono_literals;

namespace {

/// Counts refreshes; every other one fails.
struct counting_refresh {
  std::atomic<int> refreshes = 0;

  void operator()() {
    if (++refreshes % 2 == 0)
      throw std::runtime_error("disk full");
  }
};

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

} // namespace

CAF_TEST(the refresher refreshes every period through failures and stops when destroyed) {
  auto p = std::make_shared<counting_refresh>();
  auto r = std::make_unique<refresher>([p] { (*p)(); }, 5ms);
  CAF_CHECK(wait_for([&] { return p->refreshes >= 4; }, 10s));
  // A long period must not delay the stop: the destructor wakes the thread.
  auto slow = std::make_unique<refresher>([p] { (*p)(); }, 1h);
  auto started = std::chrono::steady_clock::now();
  slow.reset();
  r.reset();
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - started, 5s);
  auto after_stop = p->refreshes.load();
  std::this_thread::sleep_for(20ms);
  CAF_CHECK_EQUAL(p->refreshes.load(), after_stop);
}
