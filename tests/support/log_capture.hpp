// Captures what the code under test logs.
#pragma once

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <vector>

namespace montana::testing {

/// Routes spdlog's default logger into a buffer for the lifetime of the object.
class log_capture {
public:
  log_capture() : previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));
  }
  ~log_capture() { spdlog::set_default_logger(previous_); }

  /// The captured lines of `level` ("error", "warning", ...), oldest first.
  std::vector<std::string> lines(const std::string& level) const {
    std::vector<std::string> result;
    for (auto& line : sink_->last_formatted())
      if (line.find("[" + level + "]") != std::string::npos)
        result.push_back(line);
    return result;
  }

  std::vector<std::string> errors() const { return lines("error"); }

private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
  std::shared_ptr<spdlog::logger> previous_;
};

} // namespace montana::testing
