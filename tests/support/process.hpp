// Child processes of a test: the real `montana-actors` binary with its own arguments,
// environment, standard input and files for stdout and stderr, and command-line tools run to
// their end.
#pragma once

#include "support/cluster.hpp"
#include "support/files.hpp"
#include "support/guard.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace montana::testing {

/// One started `montana-actors`; SIGKILLed and reaped by its pid if still running at the end.
class process {
public:
  /// Starts the binary with `args`; `env` entries "NAME=value" are added to (and "NAME" removed
  /// from) the test's environment. stdin reads `input`; stdout and stderr go to files in `dir`.
  process(const std::string& dir, const std::vector<std::string>& args,
          const std::vector<std::string>& env = {}, const std::string& input = "") {
    static int counter = 0;
    auto base = dir + "/proc" + std::to_string(++counter);
    in_path_ = base + ".in";
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    if (!write_file(in_path_, input))
      GUARD_FAIL("cannot write " << in_path_);
    // Everything the child needs is prepared before fork: the test binary has threads.
    std::vector<std::string> argv_text{MONTANA_BINARY_PATH};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<std::string> env_text;
    auto overridden = [&](const std::string& entry) {
      auto name = entry.substr(0, entry.find('='));
      for (const auto& e : env)
        if (e.substr(0, e.find('=')) == name)
          return true;
      return false;
    };
    for (char** e = environ; *e != nullptr; ++e)
      if (!overridden(*e))
        env_text.emplace_back(*e);
    for (const auto& e : env)
      if (contains(e, "="))
        env_text.push_back(e);
    std::vector<char*> argv;
    for (auto& a : argv_text)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : env_text)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    int in_fd = ::open(in_path_.c_str(), O_RDONLY | O_CLOEXEC);
    int out_fd = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err_fd = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0)
      GUARD_FAIL("cannot open the child's files in " << dir);
    started_ = std::chrono::steady_clock::now();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Async-signal-safe calls only until exec.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGTERM, SIG_DFL);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGPIPE, SIG_DFL);
      if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0)
        ::_exit(126);
      ::close_range(3, ~0U, 0);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(in_fd);
    ::close(out_fd);
    ::close(err_fd);
    if (pid_ < 0)
      GUARD_FAIL("fork failed: " << std::strerror(errno));
    live_children.push_back(pid_);
  }

  ~process() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      forget();
    }
  }

  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const { return pid_; }

  /// The exit code once the process has ended within `timeout` (-N when killed by signal N);
  /// nullopt while it still runs.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    wait_until(
        [&] {
          int status = 0;
          auto r = ::waitpid(pid_, &status, WNOHANG);
          if (r == pid_) {
            ended_ = std::chrono::steady_clock::now();
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            forget();
          }
          return status_.has_value();
        },
        timeout);
    return status_;
  }

  /// From the start until the end seen by wait().
  std::chrono::milliseconds run_time() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(ended_ - started_);
  }

  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }

private:
  void forget() { std::erase(live_children, pid_); }

  std::string in_path_;
  std::string out_path_;
  std::string err_path_;
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point ended_;
};

/// Runs `args` (args[0] a path) to its end within `timeout`, stdin empty, stdout and stderr to
/// `out_path`; returns the exit code (-N when killed by signal N).
inline int run_tool(const std::vector<std::string>& args, const std::string& out_path,
                    std::chrono::milliseconds timeout = std::chrono::seconds{60}) {
  std::string problem;
  auto code = run_command(args, out_path, timeout, problem);
  if (!code)
    GUARD_FAIL(problem);
  return *code;
}

} // namespace montana::testing
