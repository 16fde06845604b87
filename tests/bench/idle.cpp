// Idle cost of a node: five real `montana-actors run` processes on a private 127.x.y.1-5 block
// with the default probe and channel timings, linked and settled (one holds the duty, the
// recorder), then measured for a while: CPU time per node as a share of one core, RSS and
// threads. See docs/benchmarks.md.
//
//   montana-bench-idle [--settle SECONDS] [--seconds SECONDS]
#include "support/cluster.hpp"
#include "support/spawn.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace montana;
using namespace montana::testing;

namespace {

/// User plus system CPU time of `pid` so far, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text;
  std::getline(in, text);
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  std::istringstream rest{text.substr(text.rfind(')') + 2)};
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i >= 14)
      ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// A `Name:` line of /proc/PID/status, as a number (kB for VmRSS).
long status_value(pid_t pid, const std::string& name) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(name + ":"))
      return std::stol(line.substr(name.size() + 1));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  int settle = 15;
  int seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--settle") == 0)
      settle = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--seconds") == 0)
      seconds = std::atoi(argv[i + 1]);
  }
  // The cluster's configuration and identities; its in-process nodes are never started.
  cluster c{profile::standard};
  auto config = c.write_config_file();
  std::vector<std::pair<std::string, pid_t>> nodes;
  for (const auto& n : c.cfg().nodes) {
    std::string problem;
    auto pid = spawn_child({MONTANA_BINARY_PATH, "run", "--config", config, "--node", n.name},
                           "/dev/null", c.dir() + "/" + n.name + ".log", problem);
    if (pid < 0) {
      std::fprintf(stderr, "%s\n", problem.c_str());
      return 1;
    }
    nodes.emplace_back(n.name, pid);
  }
  std::this_thread::sleep_for(std::chrono::seconds{settle});
  std::vector<double> before;
  for (const auto& [name, pid] : nodes)
    before.push_back(cpu_seconds(pid));
  std::this_thread::sleep_for(std::chrono::seconds{seconds});
  std::printf("five idle nodes, default timings, %d s after %d s to settle\n", seconds, settle);
  std::printf("%-12s %10s %10s %8s\n", "node", "cpu %", "rss MiB", "threads");
  double total = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto [name, pid] = nodes[i];
    auto share = (cpu_seconds(pid) - before[i]) / seconds * 100.0;
    total += share;
    std::printf("%-12s %10.3f %10.1f %8ld\n", name.c_str(), share,
                static_cast<double>(status_value(pid, "VmRSS")) / 1024.0,
                status_value(pid, "Threads"));
  }
  std::printf("%-12s %10.3f\n", "mean", total / static_cast<double>(nodes.size()));
  for (const auto& [name, pid] : nodes) {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  return 0;
}
