#define CAF_SUITE integration.supervision
#include "caf/test/dsl.hpp"

#include "support/cluster.hpp"
#include "support/process.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
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
    f << with_identities("[cluster]\nport = " + std::to_string(free_port("127.0.0.1")) +
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
