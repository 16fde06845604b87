// Child processes and command-line tools for tests, benchmarks and their helper programs
// (no CAF test macros in here; support/guard.hpp adds the clean-up of a failed test).
#pragma once

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/close_range.h>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace montana::testing {

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

/// Runs `args` (args[0] a path) to its end, stdin empty, stdout and stderr to `out_path`: its
/// exit code (-N when killed by signal N), or nullopt with `problem` saying why when it could
/// not start or still ran after `timeout` (it is killed then). Not tracked in live_children.
inline std::optional<int> run_command(const std::vector<std::string>& args,
                                      const std::string& out_path,
                                      std::chrono::milliseconds timeout, std::string& problem) {
  auto pid = spawn_child(args, "/dev/null", out_path, problem);
  if (pid < 0)
    return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      problem = args[0] + " still ran after " + std::to_string(timeout.count()) + " ms";
      return std::nullopt;
    }
    ::usleep(2000);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

} // namespace montana::testing
