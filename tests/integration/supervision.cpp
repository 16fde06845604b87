#define CAF_SUITE integration.supervision
#include "caf/test/dsl.hpp"

#include "actors/chain_leader.hpp"
#include "support/cluster.hpp"
#include "support/process.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

CAF_TEST(a duty that keeps crashing is restarted with growing delays on the same node) {
  cluster c{profile::test, [](config& cfg) {
              auto& duty = cfg.duties.at(0);
              duty.env["MONTANA_RECORD_CRASH_AFTER_MS"] = "20";
              duty.restart_min = duration{100};
              duty.restart_max = duration{800};
            }};
  c.start_all();
  CAF_REQUIRE(wait_until(
      [&] {
        int crashes = 0;
        for (const auto& r : c.records())
          crashes += r.what == "crash" ? 1 : 0;
        return crashes >= 6;
      },
      20s));
  std::vector<int64_t> starts;
  for (const auto& r : c.records()) {
    CAF_CHECK_EQUAL(r.node, "amsterdam");
    if (r.what == "start")
      starts.push_back(r.at_us);
  }
  CAF_REQUIRE(starts.size() >= 6);
  // Each restart waits at least the backoff (100, 200, 400, 800, 800 ms) after the
  // previous start plus the 20 ms the duty lives.
  const int64_t backoff_ms[] = {100, 200, 400, 800, 800};
  for (size_t i = 0; i < 5; ++i) {
    auto gap_ms = (starts[i + 1] - starts[i]) / 1000;
    CAF_CHECK_GREATER_OR_EQUAL(gap_ms, backoff_ms[i]);
    CAF_CHECK_LESS(gap_ms, backoff_ms[i] + 1500);
  }
}

CAF_TEST(killing the service process leaves no orphan duty process) {
  scratch s{"orphan"};
  const auto& dir = s.dir;
  auto record = dir + "/records";
  auto config_path = dir + "/montana.toml";
  {
    std::ofstream f{config_path};
    f << with_private_files(
        "[cluster]\nport = " + std::to_string(free_port("127.0.0.1")) +
            "\n[[cluster.nodes]]\nname = \"solo\"\nhost = \"127.0.0.1\"\n"
            "[duty.bot]\ncommand = [\"" MONTANA_RECORDER_PATH
            "\"]\nstartup_delay = \"100ms\"\n[duty.bot.env]\nMONTANA_RECORD = \"" +
            record + "\"\n[log]\nlevel = \"warn\"\n",
        dir + "/identities");
  }
  // SIGKILL leaves the node's private directory behind: it makes it in ours.
  process service{dir, {"run", "--config", config_path, "--node", "solo"}, {"TMPDIR=" + dir}};
  int duty_pid = 0;
  auto started = wait_until(
      [&] {
        std::ifstream in{record};
        std::string what, node, duty, term;
        if (in >> what >> node >> duty >> term >> duty_pid)
          return what == "start";
        return false;
      },
      15s);
  if (!started)
    GUARD_FAIL("the duty never started");
  CAF_CHECK(pid_alive(duty_pid));
  ::kill(service.pid(), SIGKILL);
  CAF_CHECK_EQUAL(service.wait(10s), -SIGKILL);
  // PR_SET_PDEATHSIG: the duty dies with the service; init reaps it.
  auto gone = wait_until([&] { return !pid_alive(duty_pid); }, 5s);
  CAF_CHECK(gone);
  if (!gone)
    ::kill(duty_pid, SIGKILL);
}

namespace {

/// The pid of `node`'s latest duty process according to the records; 0 if none.
int duty_pid(const cluster& c, const std::string& node) {
  int pid = 0;
  for (const auto& r : c.records())
    if (r.node == node && r.what == "start")
      pid = r.pid;
  return pid;
}

} // namespace

CAF_TEST(a core actor that exits makes its node fail fast and the next node take the duty) {
  cluster c{profile::test};
  c.start_all();
  CAF_REQUIRE(c.wait_for_holder("amsterdam", 20s));
  // One kind of core actor per node, each killed with an exit message: the holder's own leader,
  // then the next holder's gateway, inspector and a probe.
  struct victim {
    std::string name;
    std::string what;
    std::function<caf::actor(montana::node&)> actor;
    std::string next;
  };
  const std::vector<victim> victims{
      {"amsterdam", "leader bot", [](node& n) { return n.leaders().at("bot"); }, "moscow"},
      {"moscow", "peer moscow", [](node& n) { return n.gateway(); }, "almaty"},
      {"almaty", "inspector almaty", [](node& n) { return n.inspector(); }, "spb"},
      {"spb", "probe novosibirsk", [](node& n) { return n.probes().at("novosibirsk"); },
       "novosibirsk"},
  };
  for (const auto& v : victims) {
    CAF_MESSAGE("killing " << v.name << "'s " << v.what);
    auto& n = c.at(v.name);
    auto pid = duty_pid(c, v.name);
    CAF_REQUIRE(pid_alive(pid));
    caf::anon_send_exit(v.actor(n), caf::exit_reason::kill);
    CAF_REQUIRE(wait_until([&] { return n.failure().has_value(); }, 10s));
    CAF_CHECK(contains(*n.failure(), v.what + " exited: "));
    // The duty process went with the failure, before the owner stops anything.
    CAF_CHECK(wait_until([&] { return !pid_alive(pid); }, 5s));
    CAF_CHECK(n.running());
    CAF_CHECK(c.wait_for_holder(v.next, 20s));
    c.kill(v.name);
  }
  CAF_CHECK_EQUAL(c.failures().size(), victims.size());
  CAF_CHECK_EQUAL(c.max_overlap(), 1);
}

CAF_TEST(a stop that never completes makes the real service fail fast and exit 1) {
  // Two real services. moscow runs the duty alone; then amsterdam claims it, and moscow's duty
  // process can no longer be reaped: this test traces it and holds it at its exit (what a process
  // stuck in the kernel looks like to its supervisor). moscow's leader asks for the stop again
  // and again, then gives up: the node fails fast, leaves the cluster and the service exits 1 —
  // and amsterdam, no longer waiting for moscow's release, takes the duty.
  cluster c{profile::test, [](config& cfg) {
              cfg.nodes.resize(2);
              auto& duty = cfg.duties.at(0);
              duty.chain = {"amsterdam", "moscow"};
              duty.stop_grace = duration{200};
            }};
  auto config_path = c.write_config_file();
  auto run = [&](const std::string& name) {
    // The node's private directory in ours: a killed service leaves it behind.
    return std::make_unique<process>(
        c.dir(), std::vector<std::string>{"run", "--config", config_path, "--node", name},
        std::vector<std::string>{"TMPDIR=" + c.dir()});
  };
  auto moscow = run("moscow");
  // GUARD_REQUIRE: a failed requirement must not leave the services running.
  GUARD_REQUIRE(wait_until([&] { return duty_pid(c, "moscow") != 0; }, 20s));
  auto pid = duty_pid(c, "moscow");
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACEEXIT)) != 0)
    GUARD_FAIL("cannot trace the duty process " << pid << ": " << std::strerror(errno)
                                                << " (the test needs CAP_SYS_PTRACE)");
  auto amsterdam = run("amsterdam");
  // SIGTERM stops the traced process before it could act on it; the SIGKILL after stop_grace
  // ends it in the exit stop, where it stays until we let go.
  std::optional<int64_t> killed_us;
  CAF_CHECK(wait_until(
      [&] {
        int status = 0;
        if (::waitpid(pid, &status, __WALL | WNOHANG) == pid && WIFSTOPPED(status) &&
            status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8)))
          killed_us = now_us();
        return killed_us.has_value();
      },
      20s));
  auto code = moscow->wait(std::chrono::duration_cast<std::chrono::milliseconds>(
      stop_bound(c.cfg().duties.at(0)) * stop_attempts + 10s));
  ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  GUARD_REQUIRE(code.has_value());
  CAF_CHECK_EQUAL(*code, 1);
  auto err = moscow->err();
  CAF_CHECK(contains(err, "[moscow] duty bot: stop not confirmed"));
  CAF_CHECK(contains(err, "[moscow] node failed: leader bot exited: "));
  CAF_CHECK(contains(err, "[moscow] exiting with code 1: the node failed: "));
  if (*code != 1)
    CAF_MESSAGE("moscow's stderr:\n" << err);
  CAF_CHECK(wait_until([&] { return pid_alive(duty_pid(c, "amsterdam")); }, 20s));
  // amsterdam started only after moscow's process could no longer run.
  GUARD_REQUIRE(killed_us.has_value());
  CAF_CHECK_GREATER(last_record_at(c.records(), "amsterdam", "start"), *killed_us);
}
