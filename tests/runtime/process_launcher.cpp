#define CAF_SUITE runtime.process_launcher
#include "caf/test/dsl.hpp"

#include "runtime/process_launcher.hpp"

#include "actors/bot_supervisor.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace montana;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

/// Real processes get generous bounds: a loaded CI machine is slow, not broken.
constexpr auto patience = 10s;

/// True while `pid` exists and is not a zombie (an orphan's zombie may linger
/// until init reaps it, but it no longer runs).
bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0)
    return false;
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return false;
  auto close_paren = line.rfind(')');
  return close_paren == std::string::npos || line.substr(close_paren + 2, 1) != "Z";
}

/// Polls `pred` until it holds or `limit` passes.
template <class Predicate>
bool eventually(Predicate pred, std::chrono::milliseconds limit = patience) {
  auto deadline = clock_type::now() + limit;
  while (!pred()) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// A temporary file the duty recorder appends its start/stop records to.
struct record_file {
  record_file() {
    char name[] = "/tmp/montana-record-XXXXXX";
    int fd = ::mkstemp(name);
    CAF_REQUIRE(fd >= 0);
    ::close(fd);
    path = name;
  }

  ~record_file() { std::remove(path.c_str()); }

  /// The first word of every record: "start", "stop" or "crash".
  std::vector<std::string> kinds() const { return column(0); }

  /// The pid of every record.
  std::vector<std::string> pids() const { return column(4); }

  /// Word `n` of every record ("<kind> <node> <duty> <term> <pid> <time>").
  std::vector<std::string> column(size_t n) const {
    std::vector<std::string> result;
    std::ifstream in{path};
    for (std::string line; std::getline(in, line);) {
      std::istringstream words{line};
      std::string word;
      for (size_t i = 0; i <= n && words >> word; ++i)
        if (i == n)
          result.push_back(word);
    }
    return result;
  }

  std::string path;
};

/// The test recorder, writing to `rec`, with `extra` switches in its environment.
launch_spec recorder(const record_file& rec, std::map<std::string, std::string> extra = {}) {
  extra.emplace("MONTANA_RECORD", rec.path);
  return {{MONTANA_RECORDER_PATH}, std::move(extra), "test/recorder"};
}

struct config : caf::actor_system_config {
  config() { register_messages(*this); }
};

/// A real actor system whose scoped actor listens to a real launcher and to
/// real supervisors.
struct fixture {
  ~fixture() {
    // An actor that is still alive keeps ~actor_system waiting forever.
    for (auto& sup : supervisors) {
      self->send_exit(sup, caf::exit_reason::user_shutdown);
      self->wait_for(sup);
    }
  }

  /// Receives reports until `done` holds; false if `limit` passes first.
  template <class Predicate>
  bool await(Predicate done, std::chrono::milliseconds limit = patience) {
    auto deadline = clock_type::now() + limit;
    while (!done()) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left <= 0ms)
        return false;
      self->receive(
          [&](child_started& x) {
            order.emplace_back("started");
            started.push_back(x);
          },
          [&](child_output& x) {
            order.emplace_back("output");
            output.push_back(x);
          },
          [&](child_exited& x) {
            order.emplace_back("exited");
            exited.push_back(x);
          },
          [&](child_failed& x) {
            order.emplace_back("failed");
            failed.push_back(x);
          },
          [&](duty_started& x) { duty_starts.push_back(x); },
          [&](duty_exited& x) { duty_exits.push_back(x); },
          [&](duty_failed& x) { duty_failures.push_back(x); }, caf::after(left) >> [] {});
    }
    return true;
  }

  /// Receives reports until child `id` exited.
  bool await_exit(uint64_t id) {
    return await([&] { return find(exited, id) != nullptr; });
  }

  /// Receives reports until child `id` wrote a line on stdout.
  bool await_output(uint64_t id) {
    return await([&] { return !lines(id, "stdout").empty(); });
  }

  template <class T>
  static const T* find(const std::vector<T>& xs, uint64_t id) {
    for (auto& x : xs)
      if (x.id == id)
        return &x;
    return nullptr;
  }

  std::vector<std::string> lines(uint64_t id, const std::string& stream) const {
    std::vector<std::string> result;
    for (auto& x : output)
      if (x.id == id && x.stream == stream)
        result.push_back(x.line);
    return result;
  }

  pid_t pid_of(uint64_t id) const {
    auto x = find(started, id);
    return x != nullptr ? x->pid : 0;
  }

  /// Starts `spec` under a fresh id.
  uint64_t start(launch_spec spec) {
    auto id = launcher->new_id();
    launcher->start(id, std::move(spec), caf::actor_cast<caf::actor>(self));
    return id;
  }

  /// A supervisor for the recorder writing to `rec`, reporting to us.
  caf::actor supervise(const record_file& rec, std::map<std::string, std::string> extra = {}) {
    duty_settings duty;
    duty.name = "bot";
    duty.command = {MONTANA_RECORDER_PATH};
    duty.env = recorder(rec, std::move(extra)).env;
    duty.stop_grace = 300ms;
    duty.restart_min = 100ms;
    duty.restart_max = 1s;
    auto sup =
        spawn_bot_supervisor(sys, "moscow", duty, launcher, caf::actor_cast<caf::actor>(self));
    supervisors.push_back(sup);
    return sup;
  }

  /// Asks `sup` to stop; true once it answered.
  bool stop(const caf::actor& sup) {
    bool answered = false;
    self->request(sup, patience, stop_duty{"test"})
        .receive([&] { answered = true; },
                 [&](caf::error& err) { CAF_MESSAGE("stop failed: " << sys.render(err)); });
    return answered;
  }

  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::vector<std::string> order;
  std::vector<child_started> started;
  std::vector<child_output> output;
  std::vector<child_exited> exited;
  std::vector<child_failed> failed;
  std::vector<duty_started> duty_starts;
  std::vector<duty_exited> duty_exits;
  std::vector<duty_failed> duty_failures;
  std::vector<caf::actor> supervisors;
  // Last, so it goes first: its destructor kills whatever a failed test left running.
  std::shared_ptr<process_launcher> launcher = std::make_shared<process_launcher>();
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(process_launcher_tests, fixture)

CAF_TEST(start output and exit arrive in order) {
  auto id = start(
      {{"/bin/sh", "-c", R"(echo "$MONTANA_X"; echo "$PATH"; echo oops >&2; printf tail; exit 7)"},
       {{"MONTANA_X", "added value"}},
       "test/sh"});
  CAF_REQUIRE(await_exit(id));
  CAF_REQUIRE_EQUAL(started.size(), 1u);
  CAF_CHECK(started[0].pid > 0);
  CAF_CHECK_EQUAL(order.front(), "started");
  CAF_CHECK_EQUAL(order.back(), "exited");
  // The added variable arrives next to the inherited environment.
  std::vector<std::string> expected{"added value", std::getenv("PATH"), "tail"};
  CAF_CHECK_EQUAL(lines(id, "stdout"), expected);
  CAF_CHECK_EQUAL(lines(id, "stderr"), std::vector<std::string>{"oops"});
  CAF_CHECK_EQUAL(exited[0].pid, started[0].pid);
  CAF_CHECK_EQUAL(exited[0].exit_code, 7);
  CAF_CHECK_EQUAL(exited[0].signal, 0);
  CAF_CHECK(failed.empty());
  // A signal for a child that is gone is a no-op.
  launcher->signal(id, SIGKILL);
}

// Asio and Boost.Process open their descriptors without close-on-exec: a duty process used to
// inherit the service's listening socket and its TLS connections, and kept the port bound after
// the service stopped ("Address already in use" when it came back).
CAF_TEST(a duty process inherits no descriptor of the service but its standard streams) {
  int leaked = ::socket(AF_INET, SOCK_STREAM, 0);
  CAF_REQUIRE(leaked > 2);
  auto id = start({{"/bin/sh", "-c", "cd /proc/self/fd && echo *"}, {}, "test/sh"});
  CAF_REQUIRE(await_exit(id));
  ::close(leaked);
  auto out = lines(id, "stdout");
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  // The shell's standard streams, and the directory `echo *` lists.
  std::istringstream words{out[0]};
  std::vector<int> fds;
  for (int fd; words >> fd;)
    fds.push_back(fd);
  CAF_CHECK(std::find(fds.begin(), fds.end(), leaked) == fds.end());
  CAF_CHECK_LESS_OR_EQUAL(fds.size(), 4u);
}

CAF_TEST(sigterm stops the recorder) {
  record_file rec;
  auto id = start(recorder(rec));
  CAF_REQUIRE(await_output(id));
  CAF_CHECK(alive(pid_of(id)));
  launcher->signal(id, SIGTERM);
  CAF_REQUIRE(await_exit(id));
  CAF_CHECK_EQUAL(exited[0].exit_code, 0);
  CAF_CHECK_EQUAL(exited[0].signal, 0);
  CAF_CHECK_EQUAL(rec.kinds(), (std::vector<std::string>{"start", "stop"}));
  CAF_CHECK_EQUAL(rec.pids(), std::vector<std::string>(2, std::to_string(pid_of(id))));
}

CAF_TEST(a child that ignores sigterm needs sigkill) {
  record_file rec;
  auto id = start(recorder(rec, {{"MONTANA_RECORD_IGNORE_TERM", "1"}}));
  CAF_REQUIRE(await_output(id));
  launcher->signal(id, SIGTERM);
  // Proving a negative takes a while; the recorder ignores SIGTERM for good.
  CAF_CHECK(!await([&] { return !exited.empty(); }, 300ms));
  CAF_CHECK(alive(pid_of(id)));
  launcher->signal(id, SIGKILL);
  CAF_REQUIRE(await_exit(id));
  CAF_CHECK_EQUAL(exited[0].signal, SIGKILL);
  CAF_CHECK_EQUAL(rec.kinds(), std::vector<std::string>{"start"});
}

CAF_TEST(a group signal reaches grandchildren) {
  auto id = start({{"/bin/sh", "-c", "sleep 100 & echo $!; wait"}, {}, "test/sh"});
  CAF_REQUIRE(await_output(id));
  auto grandchild = std::stoi(lines(id, "stdout").front());
  CAF_CHECK(alive(grandchild));
  launcher->signal(id, SIGTERM);
  CAF_REQUIRE(await_exit(id));
  CAF_CHECK_EQUAL(exited[0].signal, SIGTERM);
  CAF_CHECK(eventually([&] { return !alive(grandchild); }));
}

CAF_TEST(a group does not outlive its leader) {
  // The shell exits at once; its background sleep holds the output pipe open.
  auto id = start({{"/bin/sh", "-c", "sleep 100 & echo $!"}, {}, "test/sh"});
  CAF_REQUIRE(await_exit(id));
  CAF_CHECK_EQUAL(exited[0].exit_code, 0);
  auto grandchild = std::stoi(lines(id, "stdout").front());
  CAF_CHECK(eventually([&] { return !alive(grandchild); }));
}

CAF_TEST(a missing executable fails without starting) {
  auto by_path = start({{"/nonexistent/montana-duty"}, {}, "test/missing"});
  auto by_name = start({{"montana-no-such-command"}, {}, "test/missing"});
  auto empty = start({{}, {}, "test/empty"});
  // Reports come in spawn order, so once a later child exited nothing more
  // arrives for the failed ones.
  auto barrier = start({{"/bin/true"}, {}, "test/true"});
  CAF_REQUIRE(await_exit(barrier));
  CAF_REQUIRE_EQUAL(failed.size(), 3u);
  CAF_CHECK_EQUAL(failed[0].id, by_path);
  CAF_CHECK(failed[0].reason.find("No such file or directory") != std::string::npos);
  CAF_CHECK_EQUAL(failed[1].id, by_name);
  CAF_CHECK(failed[1].reason.find("not found in PATH") != std::string::npos);
  CAF_CHECK_EQUAL(failed[2].id, empty);
  CAF_CHECK_EQUAL(started.size(), 1u);
  CAF_CHECK_EQUAL(exited.size(), 1u);
}

CAF_TEST(a signal sent during the spawn is delivered after it) {
  auto id = start({{"/bin/sleep", "100"}, {}, "test/sleep"});
  launcher->signal(id, SIGKILL);
  CAF_REQUIRE(await_exit(id));
  CAF_CHECK(find(started, id) != nullptr);
  CAF_CHECK_EQUAL(exited[0].signal, SIGKILL);
}

CAF_TEST(destroying the launcher kills its children) {
  record_file rec;
  auto id = start(recorder(rec, {{"MONTANA_RECORD_IGNORE_TERM", "1"}}));
  CAF_REQUIRE(await_output(id));
  auto pid = pid_of(id);
  auto before = clock_type::now();
  launcher.reset();
  CAF_CHECK(clock_type::now() - before < 5s);
  CAF_CHECK(!alive(pid));
  CAF_REQUIRE(await_exit(id));
  CAF_CHECK_EQUAL(exited[0].signal, SIGKILL);
  CAF_CHECK_EQUAL(rec.kinds(), std::vector<std::string>{"start"});
}

CAF_TEST(a supervisor runs and stops the recorder) {
  record_file rec;
  auto sup = supervise(rec);
  self->send(sup, run_duty{3});
  CAF_REQUIRE(await([&] { return !duty_starts.empty(); }));
  auto pid = duty_starts[0].pid;
  CAF_REQUIRE(eventually([&] { return !rec.kinds().empty(); }));
  CAF_CHECK_EQUAL(rec.column(1), std::vector<std::string>{"moscow"});
  CAF_CHECK_EQUAL(rec.column(2), std::vector<std::string>{"bot"});
  CAF_CHECK_EQUAL(rec.column(3), std::vector<std::string>{"3"});
  CAF_CHECK_EQUAL(rec.pids(), std::vector<std::string>{std::to_string(pid)});
  CAF_REQUIRE(stop(sup));
  CAF_CHECK_EQUAL(rec.kinds(), (std::vector<std::string>{"start", "stop"}));
  CAF_CHECK(!alive(pid));
  CAF_REQUIRE(await([&] { return !duty_exits.empty(); }));
  CAF_CHECK(duty_exits[0].requested);
  CAF_CHECK_EQUAL(duty_exits[0].exit_code, 0);
}

CAF_TEST(a supervisor restarts a crashing recorder) {
  record_file rec;
  auto sup = supervise(rec, {{"MONTANA_RECORD_CRASH_AFTER_MS", "100"}});
  self->send(sup, run_duty{3});
  CAF_REQUIRE(await([&] { return duty_starts.size() >= 2; }));
  CAF_REQUIRE(!duty_exits.empty());
  CAF_CHECK_EQUAL(duty_exits[0].exit_code, 3);
  CAF_CHECK(!duty_exits[0].requested);
  CAF_CHECK_NOT_EQUAL(duty_starts[0].pid, duty_starts[1].pid);
  // A SIGTERM could beat the second recorder to its first record.
  CAF_REQUIRE(eventually([&] { return rec.kinds().size() >= 3; }));
  CAF_REQUIRE(stop(sup));
  auto kinds = rec.kinds();
  CAF_REQUIRE(kinds.size() >= 3u);
  CAF_CHECK_EQUAL(std::vector<std::string>(kinds.begin(), kinds.begin() + 3),
                  (std::vector<std::string>{"start", "crash", "start"}));
  for (auto& pid : rec.pids())
    CAF_CHECK(!alive(std::stoi(pid)));
}

CAF_TEST(a supervisor kills a recorder that ignores sigterm) {
  record_file rec;
  auto sup = supervise(rec, {{"MONTANA_RECORD_IGNORE_TERM", "1"}});
  self->send(sup, run_duty{3});
  CAF_REQUIRE(await([&] { return !duty_starts.empty(); }));
  CAF_REQUIRE(eventually([&] { return !rec.kinds().empty(); }));
  CAF_REQUIRE(stop(sup));
  CAF_CHECK(!alive(duty_starts[0].pid));
  CAF_CHECK_EQUAL(rec.kinds(), std::vector<std::string>{"start"});
  CAF_REQUIRE(await([&] { return !duty_exits.empty(); }));
  CAF_CHECK_EQUAL(duty_exits[0].signal, SIGKILL);
}

CAF_TEST(a killed supervisor takes its recorder along) {
  record_file rec;
  auto sup = supervise(rec);
  self->send(sup, run_duty{3});
  CAF_REQUIRE(await([&] { return !duty_starts.empty(); }));
  self->send_exit(sup, caf::exit_reason::kill);
  self->wait_for(sup);
  CAF_CHECK(eventually([&] { return !alive(duty_starts[0].pid); }));
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(children die with the service) {
  record_file rec;
  // The "service" is a forked copy of this test that starts the recorder and
  // then dies without any clean-up.
  auto service = ::fork();
  CAF_REQUIRE(service >= 0);
  if (service == 0) {
    process_launcher launcher;
    launcher.start(launcher.new_id(), recorder(rec), caf::actor{});
    eventually([&] { return !rec.kinds().empty(); });
    ::raise(SIGKILL);
  }
  int status = 0;
  CAF_REQUIRE_EQUAL(::waitpid(service, &status, 0), service);
  CAF_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  CAF_REQUIRE_EQUAL(rec.kinds(), std::vector<std::string>{"start"});
  auto orphan = std::stoi(rec.pids().front());
  CAF_CHECK(eventually([&] { return !alive(orphan); }));
  if (alive(orphan))
    ::kill(orphan, SIGKILL);
}
