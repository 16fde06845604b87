// The chaos suites' test hosts (support/netns.hpp): hosts reach each other and nothing else;
// isolation and cut links drop packets silently, one way or both, until healed; every process
// and namespace of a run goes with it, and a run whose test died is removed by its guard or by
// a sweep, never a live one. Needs root; skips with one message elsewhere.
#define CAF_SUITE chaos.net
// ctest-labels: chaos
#include "caf/test/dsl.hpp"

#include "support/cluster.hpp"
#include "support/guard.hpp"
#include "support/netns.hpp"
#include "support/process.hpp"

#include <arpa/inet.h>
#include <memory>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

/// Why these tests cannot run here; prints it once per test.
bool skipped() {
  if (auto why = netns_unavailable(); !why.empty()) {
    CAF_MESSAGE("skipped: the chaos suites need network namespaces: " << why);
    return true;
  }
  return false;
}

/// Three hosts a, b, c at 198.18.0.1-3.
std::unique_ptr<test_net> three_hosts() {
  try {
    return std::make_unique<test_net>(
        std::vector<net_host>{{"a", "198.18.0.1"}, {"b", "198.18.0.2"}, {"c", "198.18.0.3"}});
  } catch (const std::exception& e) {
    GUARD_FAIL("cannot make the test hosts: " << e.what());
  }
}

/// What a TCP dial from `from` to a closed port of `to` meets: "refused" (reached), "timed
/// out" (dropped) or another error.
std::string dial(const test_net& net, const std::string& from, const std::string& to) {
  std::string problem;
  int fd = net.connect_from(from, net.address(to), 9, 700ms, problem);
  if (fd >= 0) {
    ::close(fd);
    return "connected";
  }
  if (contains(problem, "refused"))
    return "refused";
  if (contains(problem, "timed out"))
    return "timed out";
  return problem;
}

/// True when a UDP datagram from `from` arrives at `to` (one direction only).
bool datagram_arrives(const test_net& net, const std::string& from, const std::string& to) {
  std::string problem;
  int rx = net.socket_in(to, SOCK_DGRAM, problem);
  int tx = net.socket_in(from, SOCK_DGRAM, problem);
  GUARD_REQUIRE(rx >= 0 && tx >= 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  ::inet_pton(AF_INET, net.address(to).c_str(), &at.sin_addr);
  GUARD_REQUIRE(::bind(rx, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0);
  socklen_t len = sizeof at;
  ::getsockname(rx, reinterpret_cast<sockaddr*>(&at), &len);
  ::sendto(tx, "x", 1, 0, reinterpret_cast<sockaddr*>(&at), sizeof at);
  pollfd p{rx, POLLIN, 0};
  bool arrived = ::poll(&p, 1, 500) == 1;
  ::close(rx);
  ::close(tx);
  return arrived;
}

/// A `sleep` in namespace `ns`, via `ip netns exec` (for namespaces no test_net made).
pid_t sleeper_in(const std::string& ns, const std::string& out) {
  std::string problem;
  auto pid = spawn_child({find_tool("ip"), "netns", "exec", ns, find_tool("sleep"), "600"},
                         "/dev/null", out, problem);
  if (pid < 0)
    GUARD_FAIL(problem);
  return pid;
}

/// Waits for child `pid` to end within `timeout` and reaps it (it leaves live_children then).
bool ended(pid_t pid, std::chrono::milliseconds timeout) {
  if (!wait_until([&] { return ::waitpid(pid, nullptr, WNOHANG) == pid; }, timeout))
    return false;
  std::erase(live_children, pid);
  return true;
}

} // namespace

CAF_TEST(hosts reach each other and nothing outside their network) {
  if (skipped())
    return;
  auto net = three_hosts();
  CAF_CHECK_EQUAL(dial(*net, "a", "b"), "refused");
  CAF_CHECK_EQUAL(dial(*net, "c", "a"), "refused");
  std::string problem;
  CAF_CHECK_EQUAL(net->connect_from("a", "8.8.8.8", 53, 700ms, problem), -1);
  CAF_CHECK(contains(problem, "Network is unreachable"));
  CAF_CHECK_EQUAL(net->host_at("198.18.0.2"), "b");
  CAF_CHECK(net->prefix().starts_with("mchaos-" + std::to_string(::getpid()) + "-"));
}

CAF_TEST(an isolated host is silent both ways until it rejoins) {
  if (skipped())
    return;
  auto net = three_hosts();
  net->isolate("b");
  CAF_CHECK(net->isolated("b"));
  CAF_CHECK_EQUAL(dial(*net, "a", "b"), "timed out");
  CAF_CHECK_EQUAL(dial(*net, "b", "c"), "timed out");
  CAF_CHECK_EQUAL(dial(*net, "a", "c"), "refused");
  net->rejoin("b");
  CAF_CHECK(wait_until([&] { return dial(*net, "a", "b") == "refused"; }, 5s));
  CAF_CHECK_EQUAL(dial(*net, "b", "c"), "refused");
}

CAF_TEST(a cut drops one direction silently and both when cut both ways) {
  if (skipped())
    return;
  auto net = three_hosts();
  net->cut("a", "b");
  CAF_CHECK(!datagram_arrives(*net, "a", "b"));
  CAF_CHECK(datagram_arrives(*net, "b", "a"));
  // TCP needs both directions: a dial either way fails silently.
  CAF_CHECK_EQUAL(dial(*net, "a", "b"), "timed out");
  CAF_CHECK_EQUAL(dial(*net, "b", "a"), "timed out");
  // Everyone else still reaches both.
  CAF_CHECK_EQUAL(dial(*net, "c", "a"), "refused");
  CAF_CHECK_EQUAL(dial(*net, "c", "b"), "refused");
  net->cut("b", "a");
  CAF_CHECK(!datagram_arrives(*net, "b", "a"));
  net->restore("a", "b");
  CAF_CHECK(datagram_arrives(*net, "a", "b"));
  CAF_CHECK(!datagram_arrives(*net, "b", "a"));
  net->isolate("c");
  net->heal();
  CAF_CHECK(datagram_arrives(*net, "b", "a"));
  CAF_CHECK_EQUAL(dial(*net, "a", "b"), "refused");
  CAF_CHECK(wait_until([&] { return dial(*net, "c", "a") == "refused"; }, 5s));
}

CAF_TEST(every process and namespace of a run goes with it) {
  if (skipped())
    return;
  scratch s{"net"};
  auto net = three_hosts();
  auto prefix = net->prefix();
  std::string problem;
  auto mine = net->spawn("a", {find_tool("sleep"), "600"}, s.path("a.out"), problem);
  GUARD_REQUIRE(mine > 0);
  CAF_CHECK_EQUAL(namespaces_with_prefix(prefix + "-").size(), 4u); // three hosts and the switch
  net.reset();
  CAF_CHECK(ended(mine, 5s));
  CAF_CHECK(namespaces_with_prefix(prefix + "-").empty());
}

CAF_TEST(the run of a dead test is removed by its guard or a sweep and a live one is kept) {
  if (skipped())
    return;
  scratch s{"net"};
  // A stand-in owner: a child whose death plays the crashed test.
  std::string problem;
  auto owner = spawn_child({find_tool("sleep"), "600"}, "/dev/null", s.path("owner.out"), problem);
  GUARD_REQUIRE(owner > 0);
  live_children.push_back(owner);
  auto dead_run = "mchaos-" + std::to_string(owner) + "-" + process_start_time(owner) + "-1";
  auto live_run =
      "mchaos-" + std::to_string(::getpid()) + "-" + process_start_time(::getpid()) + "-999";
  auto ip = find_tool("ip");
  for (const auto& ns : {dead_run + "-x", dead_run + "-y", live_run + "-z"})
    GUARD_REQUIRE(run_tool({ip, "netns", "add", ns}, s.path("ip.out")) == 0);
  auto inside = sleeper_in(dead_run + "-x", s.path("inside.out"));
  live_children.push_back(inside);
  // The run's files go with it too.
  auto files = s.path("files");
  GUARD_REQUIRE(write_file(files + "/montana.toml", "x"));
  auto guard = spawn_child({MONTANA_CHAOS_NET_PATH, "guard", dead_run, files}, "/dev/null",
                           s.path("guard.out"), problem);
  GUARD_REQUIRE(guard > 0);
  live_children.push_back(guard);
  std::this_thread::sleep_for(600ms);
  CAF_CHECK_EQUAL(namespaces_with_prefix(dead_run + "-").size(), 2u);
  ::kill(owner, SIGKILL);
  CAF_CHECK(ended(owner, 5s));
  CAF_CHECK(ended(guard, 10s));
  CAF_CHECK(ended(inside, 5s));
  CAF_CHECK(namespaces_with_prefix(dead_run + "-").empty());
  CAF_CHECK(!std::filesystem::exists(files));
  // The same for a sweep, with the owner long gone; the live run stays.
  GUARD_REQUIRE(run_tool({ip, "netns", "add", dead_run + "-w"}, s.path("ip.out")) == 0);
  auto removed = sweep_stale_namespaces();
  CAF_CHECK(std::find(removed.begin(), removed.end(), dead_run + "-w") != removed.end());
  CAF_CHECK(namespaces_with_prefix(dead_run + "-").empty());
  CAF_CHECK_EQUAL(namespaces_with_prefix(live_run + "-").size(), 1u);
  remove_namespace(live_run + "-z");
  CAF_CHECK(namespaces_with_prefix(live_run + "-").empty());
}
