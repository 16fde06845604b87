// Whole-file reads and writes for tests, benchmarks and their helper programs (no CAF test
// macros in here).
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

namespace montana::testing {

/// The content of `path`, byte for byte; empty when it cannot be read.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Replaces the content of `path` with `text`, creating its directory; false when that fails.
inline bool write_file(const std::filesystem::path& path, const std::string& text) {
  std::error_code ec;
  if (path.has_parent_path())
    std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << text;
  out.close();
  return !ec && static_cast<bool>(out);
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Length of the longest line of `text`.
inline size_t widest_line(const std::string& text) {
  size_t most = 0;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);)
    most = std::max(most, line.size());
  return most;
}

} // namespace montana::testing
