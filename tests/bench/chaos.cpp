// Chaos benchmark: five real services in test hosts (support/chaos_cluster.hpp), their duty
// long-polling the Telegram stand-in, and N randomized fault trials per kind — kill -9,
// SIGSTOP, isolation, a cut link (both ways and one way), a symmetric partition with Telegram
// on both sides, four of five isolated, a graceful restart, a cold start of all five. Each
// trial starts from a full mesh (waiting up to 60 s for one), hits the holder (a cut: the link
// between the holder and its successor, one way in a random direction; a partition: the holder
// with 0-2 random others against the rest; four of five: a random node left), holds the fault
// for a random time, undoes it and waits until the head of the chain polls alone again. Every
// figure comes from the stand-in's own log. Prints the seed, a line per trial and, per fault kind:
// trials, takeover p50/p99, the longest gap without a poller, total and longest overlap (two
// pollers at once), trials with an overlap, 409s and unsettled trials. See docs/benchmarks.md.
// With `--mesh`, only N cold starts of all five: the time from the start to a full TLS mesh.
//
//   montana-bench-chaos [--trials N] [--seed S] [--rtt MS] [--jitter MS] [--hog N] [--https]
//                       [--kinds kill,freeze,...] [--hold-min MS] [--hold-max MS] [--mesh]
#include "bench/stats.hpp"
#include "support/chaos_faults.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <thread>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

struct bench_options {
  int trials = 5;
  uint64_t seed = std::random_device{}();
  int rtt_ms = 0;
  int jitter_ms = 0;
  int hog = 0;
  bool https = false;
  std::vector<fault_kind> kinds = all_fault_kinds();
  int hold_min_ms = 4000;
  int hold_max_ms = 10000;
  /// Only cold starts, timed to the full mesh.
  bool mesh = false;
};

/// Figures of one fault kind over its trials.
struct kind_figures {
  int trials = 0;
  std::vector<double> takeover_ms;
  double longest_gap_ms = 0;
  double overlap_during_ms = 0;
  double overlap_after_ms = 0;
  double longest_overlap_ms = 0;
  int overlapping = 0;
  int conflicts = 0;
  int unsettled = 0;
};

bench_options parse(int argc, char** argv) {
  bench_options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::invalid_argument(flag + ": missing value");
      return argv[++i];
    };
    if (flag == "--trials") {
      o.trials = std::stoi(value());
    } else if (flag == "--seed") {
      o.seed = std::stoull(value());
    } else if (flag == "--rtt") {
      o.rtt_ms = std::stoi(value());
    } else if (flag == "--jitter") {
      o.jitter_ms = std::stoi(value());
    } else if (flag == "--hog") {
      o.hog = std::stoi(value());
    } else if (flag == "--https") {
      o.https = true;
    } else if (flag == "--mesh") {
      o.mesh = true;
    } else if (flag == "--hold-min") {
      o.hold_min_ms = std::stoi(value());
    } else if (flag == "--hold-max") {
      o.hold_max_ms = std::stoi(value());
    } else if (flag == "--kinds") {
      o.kinds.clear();
      std::istringstream names{value()};
      for (std::string name; std::getline(names, name, ',');) {
        auto k = parse_fault_kind(name);
        if (!k)
          throw std::invalid_argument("--kinds: unknown fault kind '" + name + "'");
        o.kinds.push_back(*k);
      }
    } else {
      throw std::invalid_argument("unknown option '" + flag + "'");
    }
  }
  if (o.trials < 1 || o.rtt_ms < 0 || o.jitter_ms < 0 || o.hog < 0 || o.kinds.empty() ||
      o.hold_min_ms < 0 || o.hold_max_ms < o.hold_min_ms)
    throw std::invalid_argument("bad option values");
  return o;
}

/// A random trial of kind `k` against `holder`.
fault_trial random_trial(fault_kind k, const std::vector<std::string>& nodes,
                         const std::string& holder, const bench_options& o, std::mt19937_64& rng) {
  fault_trial t;
  t.kind = k;
  t.target = holder;
  t.hold = std::chrono::milliseconds{
      std::uniform_int_distribution<int>{o.hold_min_ms, o.hold_max_ms}(rng)};
  std::vector<std::string> others;
  for (const auto& n : nodes)
    if (n != holder)
      others.push_back(n);
  std::shuffle(others.begin(), others.end(), rng);
  switch (k) {
  case fault_kind::cut:
    // The holder and its successor: the one cut that can move the duty (issue 15's case).
    t.others = {nodes.at(1)};
    break;
  case fault_kind::cut_one_way:
    // Between the same two, in either direction.
    t.others = {nodes.at(1)};
    if (std::uniform_int_distribution<int>{0, 1}(rng) == 1)
      std::swap(t.target, t.others.front());
    break;
  case fault_kind::partition:
    // The holder's side has one to three nodes; the other side the rest.
    t.others.assign(others.begin(), others.begin() + std::uniform_int_distribution<int>{0, 2}(rng));
    break;
  case fault_kind::four_of_five:
    t.others = {nodes[std::uniform_int_distribution<size_t>{0, nodes.size() - 1}(rng)]};
    break;
  case fault_kind::cold_start:
    t.hold = 1s;
    break;
  default:
    break;
  }
  return t;
}

void add(kind_figures& f, const trial_result& r) {
  ++f.trials;
  if (r.takeover_us >= 0)
    f.takeover_ms.push_back(static_cast<double>(r.takeover_us) / 1000.0);
  f.overlap_during_ms += static_cast<double>(r.during.overlap_us) / 1000.0;
  f.overlap_after_ms += static_cast<double>(r.after.overlap_us) / 1000.0;
  for (const auto* v : {&r.during, &r.after}) {
    f.longest_gap_ms = std::max(f.longest_gap_ms, static_cast<double>(v->longest_gap_us) / 1000.0);
    f.longest_overlap_ms =
        std::max(f.longest_overlap_ms, static_cast<double>(v->longest_overlap_us) / 1000.0);
    f.conflicts += v->conflicts;
  }
  f.overlapping += r.during.overlap_us + r.after.overlap_us > 0 ? 1 : 0;
  f.unsettled += r.settled ? 0 : 1;
}

/// From the start of all five to every node linked to the four others, in ms (-1: not within
/// `timeout`), as each node's status endpoint says.
double time_to_mesh(chaos_cluster& c, std::chrono::milliseconds timeout) {
  auto begun = std::chrono::steady_clock::now();
  c.start_all();
  if (!c.wait_for_mesh(timeout))
    return -1;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begun)
      .count();
}

/// `--mesh`: `trials` cold starts of all five (each after all were killed and 1 s passed).
int mesh_trials(chaos_cluster& c, const bench_options& o) {
  std::vector<double> formed;
  int missed = 0;
  for (int t = 1; t <= o.trials; ++t) {
    for (const auto& n : c.nodes())
      c.kill(n);
    std::this_thread::sleep_for(1s);
    auto ms = time_to_mesh(c, 60s);
    if (ms < 0)
      ++missed;
    else
      formed.push_back(ms);
    std::printf("trial %3d  start to full mesh: %s\n", t,
                ms < 0 ? "not within 60 s"
                       : (std::to_string(static_cast<int>(ms)) + " ms").c_str());
    std::fflush(stdout);
  }
  std::printf("\n| RTT | CPU hogs | starts | mesh formed p50 / max | not within 60 s |\n");
  std::printf("|---|---|---|---|---|\n");
  std::printf("| %d ms | %d | %d | %.2f / %.2f s | %d |\n", o.rtt_ms, o.hog, o.trials,
              percentile(formed, 50) / 1000,
              formed.empty() ? 0.0 : *std::max_element(formed.begin(), formed.end()) / 1000,
              missed);
  return missed == 0 ? 0 : 1;
}

/// Stops everything, heals the network and starts the five again until the head polls alone.
bool recover(chaos_cluster& c) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    c.net().heal();
    for (const auto& n : c.nodes())
      c.kill(n);
    c.start_all();
    if (settle(c, 120s))
      return true;
    std::printf("  (the cluster did not settle after a restart of all five; again)\n");
  }
  return false;
}

} // namespace

int main(int argc, char** argv) {
  bench_options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "montana-bench-chaos: %s\nusage: montana-bench-chaos [--trials N] [--seed S] "
                 "[--rtt MS] [--jitter MS] [--hog N] [--https] [--kinds k1,k2,...] "
                 "[--hold-min MS] [--hold-max MS] [--mesh]\n",
                 e.what());
    return 2;
  }
  if (auto why = chaos_cluster::unavailable(); !why.empty()) {
    std::fprintf(stderr, "montana-bench-chaos: cannot run here: %s\n", why.c_str());
    return 1;
  }
  std::printf("montana-bench-chaos: seed %llu, %d %s, RTT %d ms (+ up to %d ms "
              "jitter each way), %d CPU hogs, %s, holds %d-%d ms\n",
              static_cast<unsigned long long>(o.seed), o.trials,
              o.mesh ? "cold starts to a full mesh" : "trials per kind", o.rtt_ms, o.jitter_ms,
              o.hog, o.https ? "HTTPS" : "HTTP", o.hold_min_ms, o.hold_max_ms);
  std::fflush(stdout);
  std::mt19937_64 rng{o.seed};
  std::map<fault_kind, kind_figures> figures;
  try {
    chaos_plan plan;
    plan.delay_ms = o.rtt_ms / 2;
    plan.jitter_ms = o.jitter_ms;
    plan.seed = o.seed;
    plan.https = o.https;
    chaos_cluster c{plan};
    c.hog(o.hog);
    if (o.mesh)
      return mesh_trials(c, o);
    auto mesh_ms = time_to_mesh(c, 120s);
    std::printf("start to full mesh: %s\n",
                mesh_ms >= 0 ? (std::to_string(static_cast<int>(mesh_ms)) + " ms").c_str()
                             : "not within 120 s");
    if (!settle(c, 120s) && !recover(c)) {
      std::printf("the cluster never settled on %s polling alone\n%s\n", c.nodes().front().c_str(),
                  c.diagnostics().c_str());
      return 1;
    }
    int number = 0;
    bool stuck = false;
    for (int round = 0; round < o.trials && !stuck; ++round) {
      auto kinds = o.kinds;
      std::shuffle(kinds.begin(), kinds.end(), rng);
      for (auto k : kinds) {
        if (stuck)
          break;
        // Each trial starts from a full mesh where one forms at all: a fault then meets the
        // cluster as it runs, not half-formed from the last one.
        if (!c.wait_for_mesh(60s))
          std::printf("  (no full mesh within 60 s; the trial starts anyway)\n");
        auto t = random_trial(k, c.nodes(), c.nodes().front(), o, rng);
        auto r = run_trial(c, t, 60s);
        add(figures[k], r);
        std::printf("trial %3d  %-44s %s\n", ++number, describe(t).c_str(), describe(r).c_str());
        std::fflush(stdout);
        if (!r.settled && !recover(c)) {
          std::printf("the cluster does not settle any more; stopping\n%s\n",
                      c.diagnostics().c_str());
          stuck = true;
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "montana-bench-chaos: %s\n", e.what());
    return 1;
  }
  std::printf("\nseed %llu, RTT %d ms, jitter %d ms, %d CPU hogs\n",
              static_cast<unsigned long long>(o.seed), o.rtt_ms, o.jitter_ms, o.hog);
  std::printf("| fault | trials | takeover n | takeover p50 / p99 | longest gap | overlap total "
              "(during / after the heal) | longest overlap | trials with overlap | 409s | "
              "unsettled |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (auto k : o.kinds) {
    const auto& f = figures[k];
    std::printf("| %s | %d | %zu | %.2f / %.2f s | %.2f s | %.2f s (%.1f / %.1f s) | %.2f s | %d | "
                "%d | %d |\n",
                std::string{to_string(k)}.c_str(), f.trials, f.takeover_ms.size(),
                percentile(f.takeover_ms, 50) / 1000, percentile(f.takeover_ms, 99) / 1000,
                f.longest_gap_ms / 1000, (f.overlap_during_ms + f.overlap_after_ms) / 1000,
                f.overlap_during_ms / 1000, f.overlap_after_ms / 1000, f.longest_overlap_ms / 1000,
                f.overlapping, f.conflicts, f.unsettled);
  }
  return 0;
}
