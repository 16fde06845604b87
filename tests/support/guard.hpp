// Clean-up for suites that start child processes and make temp directories.
//
// A failed CAF_REQUIRE or CAF_FAIL aborts the test binary at once: no destructor runs. So the
// children and the temporary directory of the running test are also kept here, and such suites
// state requirements with GUARD_REQUIRE / GUARD_FAIL, which end and remove them first.
#pragma once

#include "support/files.hpp"
#include "support/spawn.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace montana::testing {

inline std::vector<pid_t> live_children;
inline std::string live_dir;

/// Ends every live child by its pid and removes the live directory.
inline void clean_up() {
  for (auto pid : live_children) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  live_children.clear();
  if (!live_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(live_dir, ec);
    live_dir.clear();
  }
}

} // namespace montana::testing

#define GUARD_FAIL(msg)                                                                            \
  do {                                                                                             \
    std::ostringstream why_;                                                                       \
    why_ << msg;                                                                                   \
    ::montana::testing::clean_up();                                                                \
    CAF_FAIL(why_.str());                                                                          \
  } while (false)

#define GUARD_REQUIRE(...)                                                                         \
  do {                                                                                             \
    if (!static_cast<bool>(__VA_ARGS__))                                                           \
      GUARD_FAIL("requirement failed: " #__VA_ARGS__);                                             \
  } while (false)

namespace montana::testing {

/// A new directory montana-<what>-XXXXXX under the temporary directory.
inline std::string make_test_dir(const std::string& what) {
  auto tmpl = (std::filesystem::temp_directory_path() / ("montana-" + what + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    GUARD_FAIL("mkdtemp " << tmpl << ": " << std::strerror(errno));
  return tmpl;
}

/// Base of a suite's fixture: the test's own temporary directory, the live one until the test
/// ends, when it is removed with every live child.
struct scratch {
  std::string dir;

  explicit scratch(const std::string& what) : dir{make_test_dir(what)} { live_dir = dir; }
  ~scratch() { clean_up(); }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;

  /// The path of `name` in the directory.
  std::string path(const std::string& name) const { return dir + "/" + name; }

  /// Writes `text` to `name` in the directory and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    auto file = path(name);
    if (!write_file(file, text))
      GUARD_FAIL("cannot write " << file);
    return file;
  }
};

} // namespace montana::testing
