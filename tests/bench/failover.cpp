// Failover benchmark: five in-process nodes, repeated abrupt deaths and returns of
// the holder, graceful stops (SIGTERM's leave) and operator step-downs. Prints p50/p99 of
// failover time (holder's node killed -> successor's duty process started), of the gaps of a
// hand-back, a graceful stop and a step-down (old holder's process stopped -> new holder's
// process started) and of overlap, and the time from start to a full mesh. See
// docs/benchmarks.md.
//
//   montana-bench-failover [--trials N] [--profile standard|fast|test]
#include "bench/stats.hpp"
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

/// Latest record of `what` by `node` after `since_us`.
int64_t last_record(cluster& c, const std::string& what, const std::string& node,
                    int64_t since_us) {
  int64_t at = 0;
  for (const auto& r : c.records())
    if (r.what == what && r.node == node && r.at_us >= since_us)
      at = r.at_us;
  return at;
}

/// Sends an operator action to amsterdam's leader of the duty and waits for its answer.
template <class Atom>
void step(cluster& c, Atom action) {
  auto& n = c.at("amsterdam");
  caf::scoped_actor self{n.system()};
  bool ok = false;
  self->request(n.leaders().begin()->second, 60s, action, std::string{"bench"})
      .receive([&](const action_result& r) { ok = r.ok; }, [](caf::error&) {});
  if (!ok)
    throw std::runtime_error("amsterdam's leader refused an operator action");
}

/// Time until every node has a link to each of the four others.
double mesh_ms(cluster& c) {
  auto all_linked = [&] {
    for (const auto& n : c.cfg().nodes) {
      if (linked_nodes(c.at(n.name)).size() != c.cfg().nodes.size() - 1)
        return false;
    }
    return true;
  };
  auto begin = now_us();
  c.start_all();
  if (!wait_until(all_linked, 30s))
    throw std::runtime_error("the five nodes never formed a full mesh");
  return (now_us() - begin) / 1000.0;
}

/// Kills and restarts amsterdam `trials` times and prints the figures.
void run(profile p, int trials) {
  cluster c{p};
  auto mesh = mesh_ms(c);
  if (!c.wait_for_holder("amsterdam", 30s))
    throw std::runtime_error("the cluster never settled on amsterdam");
  std::vector<double> failover;
  std::vector<double> gap;
  std::vector<double> planned;
  std::vector<double> stepped;
  std::vector<double> overlap;
  for (int t = 0; t < trials; ++t) {
    auto killed = now_us();
    c.kill("amsterdam");
    if (!c.wait_for_holder("moscow", 30s))
      throw std::runtime_error("trial " + std::to_string(t) + ": moscow never took over");
    failover.push_back((last_record(c, "start", "moscow", killed) - killed) / 1000.0);
    auto restarted = now_us();
    c.start("amsterdam");
    if (!c.wait_for_holder("amsterdam", 30s))
      throw std::runtime_error("trial " + std::to_string(t) +
                               ": amsterdam never took the duty back");
    auto stopped = last_record(c, "stop", "moscow", restarted);
    auto started = last_record(c, "start", "amsterdam", restarted);
    gap.push_back((started - stopped) / 1000.0);
    overlap.push_back(std::max<int64_t>(0, stopped - started) / 1000.0);
    // A planned stop of the holder (what `run` does on SIGTERM), then its return.
    auto leaving = now_us();
    c.at("amsterdam").leave();
    if (!c.wait_for_holder("moscow", 30s))
      throw std::runtime_error("trial " + std::to_string(t) + ": moscow never took over");
    auto left = last_record(c, "stop", "amsterdam", leaving);
    auto took = last_record(c, "start", "moscow", leaving);
    planned.push_back((took - left) / 1000.0);
    overlap.push_back(std::max<int64_t>(0, left - took) / 1000.0);
    c.start("amsterdam");
    if (!c.wait_for_holder("amsterdam", 30s))
      throw std::runtime_error("trial " + std::to_string(t) + ": amsterdam never came back");
    // An operator's step-down and resume (the shell's step-down and resume, through the leader).
    auto stepping = now_us();
    step(c, step_down_atom::value);
    if (!c.wait_for_holder("moscow", 30s))
      throw std::runtime_error("trial " + std::to_string(t) + ": step-down moved nothing");
    left = last_record(c, "stop", "amsterdam", stepping);
    took = last_record(c, "start", "moscow", stepping);
    stepped.push_back((took - left) / 1000.0);
    overlap.push_back(std::max<int64_t>(0, left - took) / 1000.0);
    step(c, resume_atom::value);
    if (!c.wait_for_holder("amsterdam", 30s))
      throw std::runtime_error("trial " + std::to_string(t) + ": resume moved nothing");
  }
  std::printf("%-34s %8.1f ms\n", "start to full five-node mesh", mesh);
  report("failover (kill -> successor runs)", failover);
  report("hand-back gap (stop -> start)", gap);
  report("graceful-stop gap (stop -> start)", planned);
  report("step-down gap (stop -> start)", stepped);
  report("overlap (any of the three)", overlap);
  std::printf("max concurrent duty processes: %d\n", c.max_overlap());
}

} // namespace

int main(int argc, char** argv) {
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
  std::printf("profile %s, %d trials, five in-process nodes\n", profile_name.c_str(), trials);
  try {
    run(p, trials);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
