#include "runtime/process_launcher.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/args.hpp>
#include <boost/process/async.hpp>
#include <boost/process/async_pipe.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/search_path.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/close_range.h>
#include <mutex>
#include <optional>
#include <string_view>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace bp = boost::process;
namespace asio = boost::asio;

namespace montana {

namespace {

/// How long a child's pipes may stay open after it exited (a member that left
/// the group can hold them forever); its last lines are lost after that.
constexpr auto drain_timeout = std::chrono::milliseconds{500};

/// How long the destructor waits for SIGKILLed children to be reaped.
constexpr auto shutdown_timeout = std::chrono::seconds{2};

/// Longer output without a newline is cut into lines of this size, so a
/// runaway child cannot grow our memory.
constexpr size_t max_line = 64 * 1024;

/// Without close_range(2): descriptors below this get close-on-exec one by one.
constexpr int max_inherited_fd = 65536;

/// Child-side set-up between fork and exec (async-signal-safe calls only), and
/// reaping of a child whose exec failed (Boost.Process leaves it a zombie).
struct duty_process_setup : bp::extend::handler {
  pid_t parent = ::getpid();

  template <class Executor>
  void on_exec_setup(Executor&) const {
    // Own group: a stop reaches the child's own children and nothing else.
    ::setpgid(0, 0);
    // Default signal handling, whatever this service ignores or blocks: an
    // inherited SIG_IGN for SIGTERM would turn every stop into a SIGKILL.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
      if (sig != SIGKILL && sig != SIGSTOP)
        ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // If the service died before prctl took effect, the signal will never come.
    if (::getppid() != parent)
      ::_exit(127);
    // Nothing of the service's but the standard streams reaches the duty: Asio and Boost.Process
    // open descriptors without close-on-exec (the listening socket, TLS links, other children's
    // pipes). Close-on-exec rather than close: Boost.Process still reports a failed exec on one.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
      for (int fd = 3; fd < max_inherited_fd; ++fd)
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }

  template <class Executor>
  void on_error(Executor& exec, const std::error_code&) const {
    if (exec.pid > 0) {
      int status = 0;
      ::waitpid(exec.pid, &status, 0);
    }
  }
};

/// One of a child's output pipes, cut into lines.
struct output_stream {
  output_stream(asio::io_context& ioc, const char* name) : name(name), pipe(ioc) {}

  const char* name;
  bp::async_pipe pipe;
  std::array<char, 4096> chunk{};
  std::string partial;
  bool open = true;
};

/// A running child; lives on the I/O thread only.
struct child_run {
  child_run(asio::io_context& ioc, uint64_t id, caf::actor listener, std::string tag)
      : id(id), listener(std::move(listener)), tag(std::move(tag)), out(ioc, "stdout"),
        err(ioc, "stderr"), drain(ioc) {}

  uint64_t id;
  caf::actor listener;
  std::string tag;
  output_stream out;
  output_stream err;
  bp::child proc;
  pid_t pid = 0;
  bool exited = false;
  /// Raw wait status; empty when it could not be collected.
  std::optional<int> status;
  asio::steady_timer drain;
};

/// argv[0] as execve wants it: a path, or the name looked up in our PATH.
std::string resolve(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return name;
  return bp::search_path(name).string();
}

} // namespace

struct process_launcher::impl {
  /// A child's process group as seen by `signal`, from `start` until its exit.
  struct group {
    /// 0 while the spawn is still queued.
    pid_t pgid = 0;
    /// Signals that arrived before the spawn.
    std::vector<int> pending;
  };

  impl() : thread([this] { run_loop(); }) {}

  void run_loop();
  void spawn(uint64_t id, launch_spec spec, caf::actor listener);
  void read(const std::shared_ptr<child_run>& run, output_stream& stream);
  void on_read(const std::shared_ptr<child_run>& run, output_stream& stream,
               const boost::system::error_code& ec, size_t n);
  void emit(child_run& run, output_stream& stream);
  void on_exit(const std::shared_ptr<child_run>& run, const std::error_code& ec);
  void finish_if_done(child_run& run);
  void shutdown();

  // Declared first so that it goes last: everything below uses it.
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
  asio::steady_timer shutdown_deadline{ioc};

  /// Guards `groups`, which callers' threads use through `signal`.
  std::mutex mtx;
  std::map<uint64_t, group> groups;

  // I/O thread only.
  std::map<uint64_t, std::shared_ptr<child_run>> children;
  bool shutting_down = false;

  // Last: it starts running as soon as it is constructed.
  std::thread thread;
};

void process_launcher::impl::run_loop() {
  // Handlers do not throw by design; a bad_alloc must still not take the
  // thread, and with it every child's PDEATHSIG, down.
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("process launcher: {}", e.what());
    }
  }
}

void process_launcher::impl::spawn(uint64_t id, launch_spec spec, caf::actor listener) {
  auto fail = [&](std::string reason) {
    {
      std::lock_guard guard{mtx};
      groups.erase(id);
    }
    spdlog::error("[{}] cannot start: {}", spec.tag, reason);
    caf::anon_send(listener, child_failed{id, std::move(reason)});
  };
  if (shutting_down)
    return fail("the launcher is shutting down");
  if (spec.argv.empty())
    return fail("empty command");
  std::shared_ptr<child_run> run;
  try {
    auto exe = resolve(spec.argv.front());
    if (exe.empty())
      return fail(spec.argv.front() + ": not found in PATH");
    run = std::make_shared<child_run>(ioc, id, listener, spec.tag);
    bp::environment env = boost::this_process::environment();
    for (const auto& [key, value] : spec.env)
      env[key] = value;
    std::vector<std::string> args(spec.argv.begin() + 1, spec.argv.end());
    std::error_code ec;
    // The exit handler may run inside this constructor (a child that is already
    // gone); posting lets it see `run->proc` assigned.
    auto exit_handler = [this, run](int, const std::error_code& ec) {
      asio::post(ioc, [this, run, ec] { on_exit(run, ec); });
    };
    run->proc = bp::child(bp::exe = exe, bp::args = std::move(args), env, (bp::std_in < bp::null),
                          (bp::std_out > run->out.pipe), (bp::std_err > run->err.pipe), ioc,
                          bp::on_exit(exit_handler), duty_process_setup{}, ec);
    if (ec)
      return fail(exe + ": " + ec.message());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  run->pid = run->proc.id();
  {
    std::lock_guard guard{mtx};
    auto& g = groups[id];
    g.pgid = run->pid;
    for (int sig : g.pending)
      ::kill(-g.pgid, sig);
    g.pending.clear();
  }
  spdlog::info("[{}] started pid {}", run->tag, run->pid);
  caf::anon_send(run->listener, child_started{id, run->pid});
  children.emplace(id, run);
  read(run, run->out);
  read(run, run->err);
}

void process_launcher::impl::read(const std::shared_ptr<child_run>& run, output_stream& stream) {
  stream.pipe.async_read_some(asio::buffer(stream.chunk),
                              [this, run, &stream](const boost::system::error_code& ec, size_t n) {
                                on_read(run, stream, ec, n);
                              });
}

void process_launcher::impl::on_read(const std::shared_ptr<child_run>& run, output_stream& stream,
                                     const boost::system::error_code& ec, size_t n) {
  for (char c : std::string_view{stream.chunk.data(), n}) {
    if (c == '\n') {
      emit(*run, stream);
      continue;
    }
    stream.partial.push_back(c);
    if (stream.partial.size() == max_line)
      emit(*run, stream);
  }
  if (!ec)
    return read(run, stream);
  // EOF, or the pipe was closed because it outlived the child.
  if (!stream.partial.empty())
    emit(*run, stream);
  stream.open = false;
  finish_if_done(*run);
}

void process_launcher::impl::emit(child_run& run, output_stream& stream) {
  caf::anon_send(run.listener, child_output{run.id, stream.name, std::move(stream.partial)});
  stream.partial.clear();
}

void process_launcher::impl::on_exit(const std::shared_ptr<child_run>& run,
                                     const std::error_code& ec) {
  {
    std::lock_guard guard{mtx};
    // We just reaped the leader, and a group id stays reserved while any member
    // lives: this reaches only what the child left behind, since a duty's
    // helpers must not outlive it. Reaped by someone else, the id may be reused.
    if (!ec)
      ::kill(-run->pid, SIGKILL);
    groups.erase(run->id);
  }
  run->exited = true;
  if (ec)
    spdlog::error("[{}] pid {} exited, status unknown: {}", run->tag, run->pid, ec.message());
  else
    run->status = run->proc.native_exit_code();
  if (run->out.open || run->err.open) {
    run->drain.expires_after(drain_timeout);
    run->drain.async_wait([run](const boost::system::error_code& ec) {
      if (ec)
        return; // cancelled: both pipes reached EOF in time
      boost::system::error_code ignored;
      run->out.pipe.close(ignored);
      run->err.pipe.close(ignored);
    });
  }
  finish_if_done(*run);
}

void process_launcher::impl::finish_if_done(child_run& run) {
  // Exit and both EOFs come in any order; the last of them reports.
  if (!run.exited || run.out.open || run.err.open)
    return;
  run.drain.cancel();
  // exit_code -1: the status could not be collected.
  child_exited msg{run.id, run.pid, -1, 0};
  if (run.status && WIFEXITED(*run.status)) {
    msg.exit_code = WEXITSTATUS(*run.status);
    spdlog::info("[{}] pid {} exited with code {}", run.tag, run.pid, msg.exit_code);
  } else if (run.status && WIFSIGNALED(*run.status)) {
    msg.exit_code = 0;
    msg.signal = WTERMSIG(*run.status);
    spdlog::info("[{}] pid {} killed by signal {}", run.tag, run.pid, msg.signal);
  }
  caf::anon_send(run.listener, msg);
  children.erase(run.id);
  if (shutting_down && children.empty())
    shutdown_deadline.cancel();
}

void process_launcher::impl::shutdown() {
  shutting_down = true;
  {
    std::lock_guard guard{mtx};
    for (const auto& [id, g] : groups)
      if (g.pgid > 0)
        ::kill(-g.pgid, SIGKILL);
  }
  // From here on, run() returns once the last child is reaped and reported.
  work.reset();
  if (children.empty())
    return;
  shutdown_deadline.expires_after(shutdown_timeout);
  shutdown_deadline.async_wait([this](const boost::system::error_code& ec) {
    if (ec)
      return;
    spdlog::error("process launcher: {} children not reaped after SIGKILL", children.size());
    ioc.stop();
  });
}

process_launcher::process_launcher() : impl_(std::make_unique<impl>()) {}

process_launcher::~process_launcher() {
  asio::post(impl_->ioc, [this] { impl_->shutdown(); });
  impl_->thread.join();
  // Whatever did not die in time is left to init: waiting for it could hang.
  for (auto& [id, run] : impl_->children)
    run->proc.detach();
  impl_->children.clear();
}

void process_launcher::start(uint64_t id, launch_spec spec, caf::actor listener) {
  {
    std::lock_guard guard{impl_->mtx};
    impl_->groups.emplace(id, impl::group{});
  }
  asio::post(impl_->ioc,
             [this, id, spec = std::move(spec), listener = std::move(listener)]() mutable {
               impl_->spawn(id, std::move(spec), std::move(listener));
             });
}

void process_launcher::signal(uint64_t id, int sig) {
  std::lock_guard guard{impl_->mtx};
  auto i = impl_->groups.find(id);
  if (i == impl_->groups.end())
    return;
  auto& g = i->second;
  if (g.pgid == 0)
    g.pending.push_back(sig);
  else if (::kill(-g.pgid, sig) != 0 && errno != ESRCH)
    spdlog::warn("process launcher: kill(-{}, {}): {}", g.pgid, sig, std::strerror(errno));
}

} // namespace montana
