// A launcher for deterministic tests: records what it is asked to do and runs
// nothing; the test plays the child by sending child_* messages itself.
#pragma once

#include "actors/launcher.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace montana::test {

class fake_launcher final : public launcher {
public:
  struct start_call {
    uint64_t id = 0;
    launch_spec spec;
    caf::actor listener;
  };

  struct signal_call {
    uint64_t id = 0;
    int sig = 0;

    friend bool operator==(const signal_call&, const signal_call&) = default;

    friend std::string to_string(const signal_call& x) {
      return "signal(" + std::to_string(x.id) + ", " + std::to_string(x.sig) + ")";
    }
  };

  void start(uint64_t id, launch_spec spec, caf::actor listener) override {
    starts.push_back({id, std::move(spec), std::move(listener)});
  }

  void signal(uint64_t id, int sig) override { signals.push_back({id, sig}); }

  std::vector<start_call> starts;
  std::vector<signal_call> signals;
};

} // namespace montana::test
