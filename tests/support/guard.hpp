// Clean-up for suites that start child processes and make temp directories.
//
// A failed CAF_REQUIRE or CAF_FAIL aborts the test binary at once: no destructor runs. So the
// children and the temporary directory of the running test are also kept here, and such suites
// state requirements with GUARD_REQUIRE / GUARD_FAIL, which end and remove them first.
#pragma once

#include <csignal>
#include <cstdlib>
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

/// The openssl command-line tool, looked up on PATH once (never between fork and exec); empty
/// when there is none.
inline const std::string& openssl_tool() {
  static const std::string path = [] {
    const char* env = std::getenv("PATH");
    std::istringstream dirs{env ? env : "/usr/bin:/bin"};
    std::string dir;
    while (std::getline(dirs, dir, ':'))
      if (auto candidate = dir + "/openssl"; ::access(candidate.c_str(), X_OK) == 0)
        return candidate;
    return std::string{};
  }();
  return path;
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
