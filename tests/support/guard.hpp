// Clean-up for suites that start child processes and make temp directories.
//
// A failed CAF_REQUIRE or CAF_FAIL aborts the test binary at once: no destructor runs. So the
// children and the temporary directory of the running test are also kept here, and such suites
// state requirements with GUARD_REQUIRE / GUARD_FAIL, which end and remove them first.
#pragma once

#include "support/files.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <linux/close_range.h>
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

/// The program `name` on PATH (look it up before fork, never between fork and exec); empty when
/// there is none.
inline std::string find_tool(const std::string& name) {
  const char* env = std::getenv("PATH");
  std::istringstream dirs{env ? env : "/usr/bin:/bin"};
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (auto candidate = dir + "/" + name; ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  return std::string{};
}

/// The openssl command-line tool, looked up once; empty when there is none.
inline const std::string& openssl_tool() {
  static const std::string path = find_tool("openssl");
  return path;
}

/// Starts `args` (args[0] a path) with stdin read from `in_path` and stdout and stderr written
/// to `out_path`. Everything is prepared before fork (the test binary has threads). Returns the
/// pid, or -1 with `problem` saying why.
inline pid_t spawn_child(std::vector<std::string> args, const std::string& in_path,
                         const std::string& out_path, std::string& problem) {
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int in_fd = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (in_fd < 0 || out_fd < 0) {
    problem = "cannot open " + in_path + " or " + out_path;
    if (in_fd >= 0)
      ::close(in_fd);
    if (out_fd >= 0)
      ::close(out_fd);
    return -1;
  }
  auto pid = ::fork();
  if (pid == 0) {
    if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(out_fd, 2) < 0)
      ::_exit(126);
    // Nothing of the test process's sockets (the nodes' listeners among them) may outlive it.
    ::close_range(3, ~0U, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in_fd);
  ::close(out_fd);
  if (pid < 0)
    problem = std::string{"fork failed: "} + std::strerror(errno);
  return pid;
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
