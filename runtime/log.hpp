// Process-wide logging through spdlog.
#pragma once

#include <string>

namespace montana {

/// Logs to stderr, one line per event, at `level` (trace, debug, info, warn, error, off).
void setup_logging(const std::string& level);

} // namespace montana
