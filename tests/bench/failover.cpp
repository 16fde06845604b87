// Failover benchmark: five in-process nodes, repeated abrupt deaths and returns of
// the holder. Prints p50/p99 of failover time (holder's node killed -> successor's
// duty process started), of hand-back gap (old holder's process stopped -> returning
// node's process started) and of overlap. See docs/benchmarks.md.
//
//   montana-bench-failover [--trials N] [--profile standard|fast|test]
#include "runtime/tls.hpp"
#include "support/cluster.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto rank = static_cast<size_t>(p / 100.0 * static_cast<double>(xs.size() - 1) + 0.5);
  return xs[std::min(rank, xs.size() - 1)];
}

void report(const char* what, const std::vector<double>& ms) {
  std::printf("%-34s n=%-3zu p50=%8.1f ms  p99=%8.1f ms  max=%8.1f ms\n", what, ms.size(),
              percentile(ms, 50), percentile(ms, 99),
              ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()));
}

/// Latest record of `what` by `node` after `since_us`.
int64_t last_record(cluster& c, const std::string& what, const std::string& node,
                    int64_t since_us) {
  int64_t at = 0;
  for (const auto& r : c.records())
    if (r.what == what && r.node == node && r.at_us >= since_us)
      at = r.at_us;
  return at;
}

} // namespace

int main(int argc, char** argv) {
  enforce_tls13();
  int trials = 20;
  auto p = profile::standard;
  std::string profile_name = "standard";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--trials") == 0) {
      trials = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--profile") == 0) {
      profile_name = argv[i + 1];
      p = profile_name == "fast"   ? profile::fast
          : profile_name == "test" ? profile::test
                                   : profile::standard;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  cluster c{p};
  c.start_all();
  if (!c.wait_for_holder("amsterdam", 30s)) {
    std::cerr << "the cluster never settled on amsterdam\n";
    return 1;
  }
  std::vector<double> failover;
  std::vector<double> gap;
  std::vector<double> overlap;
  for (int t = 0; t < trials; ++t) {
    auto killed = now_us();
    c.kill("amsterdam");
    if (!c.wait_for_holder("moscow", 30s)) {
      std::cerr << "trial " << t << ": moscow never took over\n";
      return 1;
    }
    failover.push_back((last_record(c, "start", "moscow", killed) - killed) / 1000.0);
    auto restarted = now_us();
    c.start("amsterdam");
    if (!c.wait_for_holder("amsterdam", 30s)) {
      std::cerr << "trial " << t << ": amsterdam never took the duty back\n";
      return 1;
    }
    auto stopped = last_record(c, "stop", "moscow", restarted);
    auto started = last_record(c, "start", "amsterdam", restarted);
    gap.push_back((started - stopped) / 1000.0);
    overlap.push_back(std::max<int64_t>(0, stopped - started) / 1000.0);
  }
  std::printf("profile %s, %d trials, five in-process nodes\n", profile_name.c_str(), trials);
  report("failover (kill -> successor runs)", failover);
  report("hand-back gap (stop -> start)", gap);
  report("hand-back overlap", overlap);
  std::printf("max concurrent duty processes: %d\n", c.max_overlap());
  return 0;
}
