// The systemd unit (deploy/montana-actors.service): what systemd-analyze says about it, and the
// unit's lines the original got wrong.
#define CAF_SUITE deploy.service
#include "caf/test/dsl.hpp"

#include "actors/chain_leader.hpp"
#include "actors/settings.hpp"
#include "support/guard.hpp"
#include "support/process.hpp"

#include <filesystem>
#include <regex>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

const std::string unit_path = MONTANA_SOURCE_DIR "/deploy/montana-actors.service";

/// The value of `key=` in the unit, or "" (each key the unit sets appears once).
std::string unit_value(const std::string& unit, const std::string& key) {
  std::smatch m;
  if (std::regex_search(unit, m, std::regex{"(^|\n)" + key + "=([^\n]*)"}))
    return m[2];
  return "";
}

/// Seconds of a systemd time span written as "90s", "5min" or "2min 30s".
long span_seconds(const std::string& text) {
  long total = 0;
  std::smatch m;
  std::regex part{"(\\d+)\\s*(min|s)"};
  for (auto it = text.cbegin(); std::regex_search(it, text.cend(), m, part); it = m[0].second)
    total += std::stol(m[1]) * (m[2] == "min" ? 60 : 1);
  return total;
}

struct fixture : scratch {
  fixture() : scratch{"service"} {}
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(service_tests, fixture)

CAF_TEST(the unit passes the verify of systemd analyze) {
  auto tool = find_tool("systemd-analyze");
  if (tool.empty()) {
    CAF_MESSAGE(
        "skipped: no systemd-analyze here (Debian package systemd; deploy/install-deps.sh)");
    return;
  }
  // verify wants ExecStart's program to exist: a copy of the unit runs the binary just built.
  auto unit = read_file(unit_path);
  auto exec = std::string{"ExecStart=/usr/bin/montana-actors "};
  auto at = unit.find(exec);
  GUARD_REQUIRE(at != std::string::npos);
  unit.replace(at, exec.size(), std::string{"ExecStart="} + MONTANA_BINARY_PATH + " ");
  auto copy = dir + "/montana-actors.service";
  write_file(copy, unit);
  auto out = dir + "/verify.out";
  CAF_CHECK_EQUAL(run_tool({tool, "verify", copy}, out), 0);
  // Warnings (an unknown or misspelt key) leave the exit code 0: the output must be empty too.
  CAF_CHECK_EQUAL(read_file(out), "");
}

CAF_TEST(the unit rates an exposure of at most 2 by systemd analyze security) {
  auto tool = find_tool("systemd-analyze");
  if (tool.empty()) {
    CAF_MESSAGE(
        "skipped: no systemd-analyze here (Debian package systemd; deploy/install-deps.sh)");
    return;
  }
  auto out = dir + "/security.out";
  CAF_CHECK_EQUAL(run_tool({tool, "security", "--offline=true", "--no-pager", unit_path}, out), 0);
  // "→ Overall exposure level for montana-actors.service: 1.5 OK 🙂"
  auto text = read_file(out);
  std::smatch m;
  GUARD_REQUIRE(std::regex_search(text, m,
                                  std::regex{"Overall exposure level for "
                                             "montana-actors\\.service: ([0-9.]+)"}));
  auto exposure = std::stod(m[1]);
  CAF_MESSAGE("exposure " << exposure);
  CAF_CHECK_LESS_OR_EQUAL(exposure, 2.0);
  // What the duty and the node need kept: raw ICMP sockets, IP, and no W^X rule (a JIT bot).
  auto unit = read_file(unit_path);
  CAF_CHECK_EQUAL(unit_value(unit, "AmbientCapabilities"), "CAP_NET_RAW");
  CAF_CHECK_EQUAL(unit_value(unit, "MemoryDenyWriteExecute"), "");
}

CAF_TEST(the unit notifies keeps secrets out and outlasts a graceful leave) {
  auto unit = read_file(unit_path);
  CAF_CHECK_EQUAL(unit_value(unit, "Type"), "notify");
  CAF_CHECK_EQUAL(unit_value(unit, "NotifyAccess"), "main");
  CAF_CHECK_GREATER(span_seconds(unit_value(unit, "WatchdogSec")), 0);
  CAF_CHECK_EQUAL(unit_value(unit, "ExecStart"),
                  "/usr/bin/montana-actors run --config /etc/montana/montana.toml");
  CAF_CHECK_EQUAL(unit_value(unit, "EnvironmentFile"), "/etc/montana/montana.env");
  CAF_CHECK_EQUAL(unit_value(unit, "ExecReload"), "/bin/kill -HUP $MAINPID");
  // Secrets come from the environment file only (the original wrote them into its unit).
  CAF_CHECK_EQUAL(unit_value(unit, "Environment"), "");
  CAF_CHECK_EQUAL(unit_value(unit, "User"), "montana");
  CAF_CHECK_EQUAL(unit_value(unit, "KillMode"), "mixed");
  // A leave takes up to the handover wait + 2 x stop_grace + 5 s per duty (node::leave), then
  // the hand-over breath (its own bound; the leader's is only a guard), the node's stop a few
  // more.
  auto leave = handover_wait(duty_settings{}) + duty_settings{}.stop_grace * 2 + 5s +
               breath_settings{}.handover_timeout;
  auto stop = span_seconds(unit_value(unit, "TimeoutStopSec"));
  CAF_CHECK_GREATER_OR_EQUAL(std::chrono::seconds{stop}, leave + 10s);
}

CAF_TEST_FIXTURE_SCOPE_END()
