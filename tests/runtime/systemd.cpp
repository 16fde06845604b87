// `montana-actors run` under a stand-in service manager: the test owns the NOTIFY_SOCKET and reads
// what the real binary tells systemd — READY=1 once the node is up, WATCHDOG=1 only while its
// actor system answers, STOPPING=1 at the end.
#define CAF_SUITE runtime.systemd
#include "caf/test/dsl.hpp"

#include "runtime/process_launcher.hpp"
#include "runtime/systemd.hpp"
#include "support/cluster.hpp"
#include "support/guard.hpp"
#include "support/log_capture.hpp"
#include "support/process.hpp"

#include <condition_variable>
#include <cstdlib>
#include <dirent.h>
#include <filesystem>
#include <mutex>
#include <poll.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

/// One notification and the pid that sent it (SCM_CREDENTIALS).
struct notification {
  pid_t pid = 0;
  std::string text;
};

/// The service manager's end: a unix datagram socket the child finds in NOTIFY_SOCKET.
class notify_socket {
public:
  explicit notify_socket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    GUARD_REQUIRE(fd_ >= 0 && path.size() < sizeof addr.sun_path);
    std::strcpy(addr.sun_path, path.c_str());
    int on = 1;
    GUARD_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    GUARD_REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == 0);
  }

  ~notify_socket() { ::close(fd_); }

  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;

  const std::string& path() const { return path_; }

  /// The next notification within `timeout`, or nullopt.
  std::optional<notification> next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1)
      return std::nullopt;
    char data[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    auto n = ::recvmsg(fd_, &msg, 0);
    GUARD_REQUIRE(n >= 0);
    notification result{0, std::string(data, static_cast<size_t>(n))};
    for (auto* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        result.pid = cred.pid;
      }
    return result;
  }

  /// Every notification within `span`, and those already waiting.
  std::vector<notification> collect(std::chrono::milliseconds span) {
    std::vector<notification> result;
    auto until = std::chrono::steady_clock::now() + span;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      auto x = next(std::max(left, 0ms));
      if (!x)
        return result;
      result.push_back(*x);
    }
  }

private:
  std::string path_;
  int fd_ = -1;
};

/// Whether `text` holds the line `line` ("READY=1", "WATCHDOG=1", …).
bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);)
    if (l == line)
      return true;
  return false;
}

size_t count_line(const std::vector<notification>& xs, const std::string& line) {
  return static_cast<size_t>(
      std::count_if(xs.begin(), xs.end(), [&](const auto& x) { return has_line(x.text, line); }));
}

/// Stops every thread of `pid` except the one named `spared` (a wedged actor system whose health
/// thread runs on): ptrace stops single threads, SIGSTOP would stop the whole process. Returns the
/// stopped threads, or nothing when ptrace is not permitted here.
std::optional<std::vector<pid_t>> freeze_all_but(pid_t pid, const std::string& spared) {
  std::vector<pid_t> stopped;
  auto tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator{tasks}) {
    auto comm = read_file(entry.path().string() + "/comm");
    if (comm == spared + "\n")
      continue;
    auto tid = static_cast<pid_t>(std::stol(entry.path().filename().string()));
    if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
      if (errno == ESRCH) // the thread ended meanwhile
        continue;
      if (errno == EPERM && stopped.empty())
        return std::nullopt;
      GUARD_FAIL("cannot seize thread " << tid << ": " << std::strerror(errno));
    }
    int status = 0;
    GUARD_REQUIRE(::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) == 0);
    GUARD_REQUIRE(::waitpid(tid, &status, __WALL) == tid && WIFSTOPPED(status));
    stopped.push_back(tid);
  }
  return stopped;
}

void thaw(const std::vector<pid_t>& threads) {
  for (auto tid : threads)
    GUARD_REQUIRE(::ptrace(PTRACE_DETACH, tid, nullptr, nullptr) == 0);
}

/// The real launcher behind a gate: while closed, start() blocks the calling thread — the
/// bot-supervisor's — so that one actor of a running node is wedged and the rest are not.
class gated_launcher final : public launcher {
public:
  void start(uint64_t id, launch_spec spec, caf::actor listener) override {
    {
      std::unique_lock guard{mutex_};
      ++waiting_;
      changed_.notify_all();
      changed_.wait(guard, [this] { return open_; });
      --waiting_;
    }
    real_.start(id, std::move(spec), std::move(listener));
  }

  void signal(uint64_t id, int sig) override { real_.signal(id, sig); }

  void set_open(bool open) {
    std::lock_guard guard{mutex_};
    open_ = open;
    changed_.notify_all();
  }

  /// Whether a start() waits at the gate now, within `timeout`.
  bool holds_one(std::chrono::milliseconds timeout) {
    std::unique_lock guard{mutex_};
    return changed_.wait_for(guard, timeout, [this] { return waiting_ > 0; });
  }

private:
  process_launcher real_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true;
  int waiting_ = 0;
};

/// Stops a node at the end of a test, with its launcher's gate open so nothing blocks.
class guard_node {
public:
  guard_node(node& n, gated_launcher& gate) : node_(n), gate_(gate) {}
  ~guard_node() {
    gate_.set_open(true);
    node_.stop();
  }
  guard_node(const guard_node&) = delete;
  guard_node& operator=(const guard_node&) = delete;

private:
  node& node_;
  gated_launcher& gate_;
};

/// Sets the variables systemd gives a service for the lifetime of the object.
class service_environment {
public:
  service_environment(const std::string& socket, std::chrono::microseconds watchdog) {
    ::setenv("NOTIFY_SOCKET", socket.c_str(), 1);
    ::setenv("WATCHDOG_USEC", std::to_string(watchdog.count()).c_str(), 1);
    ::unsetenv("WATCHDOG_PID");
  }
  ~service_environment() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
  }
  service_environment(const service_environment&) = delete;
  service_environment& operator=(const service_environment&) = delete;
};

struct fixture : scratch {
  fixture() : scratch{"systemd"} {}

  /// A one-node cluster "solo" on a free loopback port whose duty sleeps.
  std::string solo_config() {
    auto port = free_port("127.0.0.1");
    auto path = dir + "/solo.toml";
    write_file(path,
               with_private_files("[cluster]\nport = " + std::to_string(port) +
                                      "\n\n[[cluster.nodes]]\nname = \"solo\"\nhost = "
                                      "\"127.0.0.1\"\n\n[duty.bot]\ncommand = [\"/bin/sleep\", "
                                      "\"60\"]\nstartup_delay = \"0s\"\nstop_grace = \"2s\"\n",
                                  dir + "/identities"));
    return path;
  }

  /// `run` of the solo node reporting to `socket`; `watchdog` sets WATCHDOG_USEC.
  std::unique_ptr<process> start(const notify_socket& socket,
                                 std::optional<std::chrono::microseconds> watchdog) {
    std::vector<std::string> env{"NOTIFY_SOCKET=" + socket.path(), "WATCHDOG_PID",
                                 "MONTANA_NODE_NAME=solo"};
    env.emplace_back(watchdog ? "WATCHDOG_USEC=" + std::to_string(watchdog->count())
                              : "WATCHDOG_USEC");
    return std::make_unique<process>(
        dir, std::vector<std::string>{"run", "--config", solo_config()}, env);
  }

  /// The first notification must be READY=1, sent by the service itself once its node is up.
  void expect_ready(notify_socket& socket, process& p) {
    auto first = socket.next(20s);
    if (!first)
      GUARD_FAIL("no notification within 20 s; stderr: " << p.err());
    CAF_CHECK(has_line(first->text, "READY=1"));
    CAF_CHECK(has_line(first->text, "STATUS=node solo up: 0 peers, 1 duties"));
    CAF_CHECK_EQUAL(first->pid, p.pid());
    CAF_CHECK(contains(p.err(), "[solo] node up on 127.0.0.1:"));
  }

  /// SIGTERM: STOPPING=1 (and no watchdog ping after it), then exit 0 with the last status.
  void expect_clean_stop(notify_socket& socket, process& p) {
    GUARD_REQUIRE(::kill(p.pid(), SIGTERM) == 0);
    std::optional<notification> stopping;
    while (!stopping)
      if (auto x = socket.next(10s); !x)
        GUARD_FAIL("no STOPPING=1 within 10 s of SIGTERM; stderr: " << p.err());
      else if (has_line(x->text, "STOPPING=1"))
        stopping = x;
    CAF_CHECK_EQUAL(stopping->pid, p.pid());
    auto code = p.wait(15s);
    GUARD_REQUIRE(code.has_value());
    CAF_CHECK_EQUAL(*code, 0);
    auto after = socket.collect(0ms);
    CAF_CHECK_EQUAL(count_line(after, "WATCHDOG=1"), 0u);
    // The last status says the leave is over (systemd shows it for the stopped unit).
    CAF_CHECK(!after.empty() && after.back().text == "STATUS=node solo left the cluster");
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(systemd_tests, fixture)

CAF_TEST(run is ready once up and feeds the watchdog only while its actor system answers) {
  notify_socket socket{dir + "/notify"};
  // WatchdogSec=2s: a round every second, each answer within 250 ms (slack for a loaded machine).
  auto p = start(socket, 2s);
  expect_ready(socket, *p);
  auto pings = socket.collect(3500ms);
  CAF_CHECK_GREATER_OR_EQUAL(count_line(pings, "WATCHDOG=1"), 2u);
  for (const auto& x : pings)
    CAF_CHECK_EQUAL(x.pid, p->pid());
  bool holder = std::any_of(pings.begin(), pings.end(), [](const auto& x) {
    return contains(x.text, "STATUS=node solo: 0 of 0 peers linked; duty bot: holder (term ");
  });
  CAF_CHECK(holder);
  if (!holder)
    for (const auto& x : pings)
      CAF_MESSAGE("notification: " << x.text);

  auto frozen = freeze_all_but(p->pid(), "montana-health");
  if (frozen) {
    CAF_MESSAGE("every thread but montana-health stopped: " << frozen->size() << " threads");
  } else {
    CAF_MESSAGE("ptrace not permitted here: SIGSTOP of the whole process instead");
    GUARD_REQUIRE(::kill(p->pid(), SIGSTOP) == 0);
  }
  // A ping whose pong came back just before the freeze may still be sent.
  socket.collect(300ms);
  // Longer than WatchdogSec: systemd would have restarted the service.
  auto wedged = socket.collect(2500ms);
  CAF_CHECK_EQUAL(count_line(wedged, "WATCHDOG=1"), 0u);
  if (frozen)
    thaw(*frozen);
  else
    GUARD_REQUIRE(::kill(p->pid(), SIGCONT) == 0);
  auto again = socket.collect(3000ms);
  CAF_CHECK_GREATER_OR_EQUAL(count_line(again, "WATCHDOG=1"), 1u);
  if (frozen) {
    CAF_CHECK(contains(p->err(), "[solo] health: the guardian did not answer within 250 ms: "
                                 "watchdog pings withheld"));
    CAF_CHECK(contains(p->err(), "[solo] health: every actor answers again"));
  }
  expect_clean_stop(socket, *p);
}

CAF_TEST(run without WATCHDOG_USEC reports ready and stopping and sends no watchdog pings) {
  notify_socket socket{dir + "/notify"};
  auto p = start(socket, std::nullopt);
  expect_ready(socket, *p);
  auto quiet = socket.collect(1000ms);
  CAF_CHECK_EQUAL(count_line(quiet, "WATCHDOG=1"), 0u);
  expect_clean_stop(socket, *p);
}

CAF_TEST(the watchdog pings stop while a bot - supervisor is wedged and once the node failed) {
  // The node runs in this process, so that one of its actors can be wedged on its own.
  log_capture log;
  notify_socket socket{dir + "/notify"};
  auto cfg = parse_config(read_file(solo_config()), "<test>");
  auto gate = std::make_shared<gated_launcher>();
  std::vector<std::string> failures;
  std::mutex failures_mutex;
  node_options opts;
  opts.launcher = gate;
  opts.scheduler_threads = 2;
  opts.on_failure = [&](const std::string& why) {
    std::lock_guard guard{failures_mutex};
    failures.push_back(why);
  };
  node n{cfg, "solo", opts};
  n.start();
  guard_node stopper{n, *gate};
  service_environment env{socket.path(), 2s};
  service_notifier service{n};
  auto ready = socket.next(5s);
  CAF_REQUIRE(ready && has_line(ready->text, "READY=1"));
  CAF_CHECK_GREATER_OR_EQUAL(count_line(socket.collect(2500ms), "WATCHDOG=1"), 1u);

  // A restart of the duty makes its supervisor start a new process: it blocks at the gate.
  gate->set_open(false);
  caf::anon_send(n.leaders().at("bot"), restart_atom::value, std::string{"test"});
  CAF_REQUIRE(gate->holds_one(5s));
  socket.collect(300ms); // a round that began before the wedge may still ping
  CAF_CHECK_EQUAL(count_line(socket.collect(2500ms), "WATCHDOG=1"), 0u);
  auto warned = [&](const std::string& text) {
    auto lines = log.lines("warning");
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return contains(l, text); });
  };
  CAF_CHECK(warned("[solo] health: no answer within 125 ms from supervisor bot: "));
  gate->set_open(true);
  CAF_CHECK_GREATER_OR_EQUAL(count_line(socket.collect(2500ms), "WATCHDOG=1"), 1u);

  // A dead leader fails the node: no pings any more, and the owner is told.
  caf::anon_send_exit(n.leaders().at("bot"), caf::exit_reason::kill);
  CAF_REQUIRE(wait_until([&] { return n.failure().has_value(); }, 5s));
  socket.collect(300ms);
  CAF_CHECK_EQUAL(count_line(socket.collect(2500ms), "WATCHDOG=1"), 0u);
  CAF_CHECK(warned("[solo] health: the node failed: leader bot exited: "));
  std::lock_guard guard{failures_mutex};
  CAF_REQUIRE_EQUAL(failures.size(), 1u);
  CAF_CHECK(contains(failures[0], "leader bot exited: "));
}

CAF_TEST_FIXTURE_SCOPE_END()
