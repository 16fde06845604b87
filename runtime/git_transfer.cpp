#include "runtime/git_transfer.hpp"

#include "runtime/git_repo.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace montana {

namespace {

using namespace std::chrono_literals;

/// Closes a descriptor when it goes out of scope.
struct fd_closer {
  int fd = -1;
  ~fd_closer() {
    if (fd >= 0)
      ::close(fd);
  }
  void close() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
};

bool executable(const std::string& path) {
  return !path.empty() && ::access(path.c_str(), X_OK) == 0;
}

/// What the child gets on stdin: the credential settings, one per line (no secret: the
/// token itself stays in its file or variable).
std::string credentials_text(const breath_credentials& c) {
  return c.ssh_key + "\n" + c.ssh_user + "\n" + c.token_file + "\n" + c.token_env + "\n" +
         c.token_user + "\n";
}

/// Writes a few hundred bytes (they fit the pipe) to a child that may have died already: its
/// SIGPIPE is blocked for this thread and consumed, so it cannot end the service.
void write_quietly(int fd, const std::string& text) {
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  sigset_t before;
  ::pthread_sigmask(SIG_BLOCK, &pipe_signal, &before);
  auto n = ::write(fd, text.data(), text.size());
  if (n < 0 && errno == EPIPE) {
    timespec zero{0, 0};
    ::sigtimedwait(&pipe_signal, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

} // namespace

std::string transfer_helper() {
  if (const char* env = std::getenv("MONTANA_GIT_TRANSFER"); env && *env)
    return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = (self.parent_path() / "montana-git-transfer").string();
    if (executable(beside))
      return beside;
  }
  return "/usr/lib/montana-actors/montana-git-transfer";
}

git_transfer::git_transfer(std::string helper) : helper_{std::move(helper)} {
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error{std::string{"git transfer: pipe: "} + std::strerror(errno)};
}

git_transfer::~git_transfer() {
  for (int fd : wake_)
    if (fd >= 0)
      ::close(fd);
}

void git_transfer::interrupt() {
  std::lock_guard<std::mutex> guard{mutex_};
  interrupted_ = true;
  char byte = 1;
  [[maybe_unused]] auto n = ::write(wake_[1], &byte, 1);
}

void git_transfer::fetch(const breath_settings& settings, std::chrono::milliseconds limit,
                         const std::vector<std::string>& stale) {
  run("fetch", settings, limit, stale);
}

bool git_transfer::push(const breath_settings& settings, std::chrono::milliseconds limit,
                        const std::vector<std::string>& stale) {
  return run("push", settings, limit, stale) == "ok";
}

std::string git_transfer::run(const std::string& verb, const breath_settings& settings,
                              std::chrono::milliseconds limit,
                              const std::vector<std::string>& stale) {
  const auto operation = verb + " " + settings.remote + " " + settings.branch;
  {
    // An interrupt that came between two transfers does not end the next one.
    std::lock_guard<std::mutex> guard{mutex_};
    interrupted_ = false;
    char drain[64];
    while (::read(wake_[0], drain, sizeof drain) > 0) {
    }
  }
  if (!executable(helper_))
    git_fail(operation, settings.repo, "the transfer program " + helper_ + " is missing");
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0)
    git_fail(operation, settings.repo, std::string{"pipe: "} + std::strerror(errno));
  fd_closer in_read{in[0]}, in_write{in[1]};
  if (::pipe2(out, O_CLOEXEC) != 0)
    git_fail(operation, settings.repo, std::string{"pipe: "} + std::strerror(errno));
  fd_closer out_read{out[0]}, out_write{out[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  // Nothing else: the duty's pipes (Boost.Process opens them without O_CLOEXEC) stay ours.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const auto parent = std::to_string(::getpid());
  std::vector<std::string> args{helper_,         verb,  settings.repo, settings.remote,
                                settings.branch, parent};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int spawned = ::posix_spawn(&pid, helper_.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawned != 0)
    git_fail(operation, settings.repo,
             "cannot start " + helper_ + ": " + std::string{std::strerror(spawned)});
  in_read.close();
  out_write.close();
  write_quietly(in_write.fd, credentials_text(settings.credentials));
  in_write.close();

  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string answer;
  std::string why_killed;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      why_killed = "no answer within " + ms(limit) + " (the remote hangs or is too slow)";
      break;
    }
    pollfd fds[2] = {{out_read.fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count() + 1, 1000)));
    if (n < 0 && errno != EINTR) {
      why_killed = std::string{"poll: "} + std::strerror(errno);
      break;
    }
    if (n <= 0)
      continue;
    if (fds[1].revents & POLLIN) {
      std::lock_guard<std::mutex> guard{mutex_};
      if (interrupted_) {
        why_killed = "interrupted";
        break;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buffer[4096];
      auto got = ::read(out_read.fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break; // EOF: the child is done
      if (answer.size() < 65536)
        answer.append(buffer, static_cast<std::size_t>(got));
    }
  }
  if (!why_killed.empty())
    ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!why_killed.empty()) {
    // Whatever the killed child held is stale now.
    for (const auto& lock : stale)
      ::unlink(lock.c_str());
    git_fail(operation, settings.repo, why_killed);
  }
  auto line = answer.substr(0, answer.find('\n'));
  if (line == "ok" || line == "non-fast-forward")
    return line;
  if (line.starts_with("error "))
    throw git_failure{line.substr(6)};
  git_fail(operation, settings.repo,
           "the transfer program ended without an answer (" +
               (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                    : "exit status " + std::to_string(WEXITSTATUS(status))) +
               (answer.empty() ? std::string{} : "): " + answer));
}

} // namespace montana
