// Breath benchmark: the time of one breath with one changed file, libgit2 in-process (the steps
// of the breather's git_port) against the original's CLI sequence (`git add`, `git commit`,
// `git pull --rebase`, `git push`), alternating on the same clone of a local bare origin in the
// same run; once with the remote unchanged and once with a commit from another clone to replay
// onto. Then the CPU the breather itself uses while nothing changes. See docs/benchmarks.md.
//
//   montana-bench-breath [--trials N] [--idle-seconds S] [--interval-ms MS]
#include "actors/breather.hpp"
#include "bench/stats.hpp"
#include "runtime/git_port.hpp"
#include "support/breathing.hpp"
#include "support/git_cli.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/resource.h>
#include <thread>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using clock_type = std::chrono::steady_clock;

/// Runs a command that has to succeed; exits the benchmark with its output otherwise.
std::string must(const std::string& command) {
  auto result = run(command);
  if (result.status != 0) {
    std::fprintf(stderr, "failed: %s\n%s", command.c_str(), result.out.c_str());
    std::exit(1);
  }
  return result.out;
}

/// A temporary directory with a bare origin whose main has empty synced files, and clones.
class sandbox {
public:
  sandbox() {
    std::string pattern = (fs::temp_directory_path() / "montana-bench-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    must(git_cli + "init -q --bare " + origin());
    auto seed = clone("seed");
    write_file(seed / "data/users.json", "{}\n");
    write_file(seed / "node_crypto/nodes.json", "{}\n");
    must(git(seed, "add -A") + " && " + git(seed, "commit -q -m init") + " && " +
         git(seed, "push -q origin main"));
  }
  ~sandbox() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string origin() const { return (dir_ / "origin.git").string(); }
  fs::path clone(const std::string& name) const {
    auto path = dir_ / name;
    must(git_cli + "clone -q " + origin() + " " + path.string());
    return path;
  }

private:
  fs::path dir_;
};

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

/// CPU time (user + system) this process used so far, in milliseconds.
double cpu_ms() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto ms = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_usec) / 1000.0;
  };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

/// The original's breath with the git CLI.
void cli_breath(const fs::path& clone, const std::string& file, int trial) {
  must(git(clone, "add " + file) + " && " +
       git(clone, "commit -q -m '[sync] breathing bench " + std::to_string(trial) + "'") + " && " +
       git(clone, "pull -q --rebase origin main") + " && " + git(clone, "push -q origin main"));
}

/// Alternates libgit2 and CLI breaths, each on a clone of its own of one origin (a node's clone
/// is only ever touched by its own breather), one changed file per breath. With `shared`, both
/// clones push to the same origin, so every breath first replays onto the other's commit;
/// without, each clone has an origin of its own and the remote never moved.
void compare(int trials, bool shared) {
  sandbox box;
  sandbox other_box;
  auto lib_clone = box.clone("libgit2");
  auto cli_clone = (shared ? box : other_box).clone("cli");
  git_port port{breath_settings_for(lib_clone.string(), "bench"), "bench"};
  port.prepare();
  std::vector<double> lib;
  std::vector<double> cli;
  for (int i = 0; i < 2 * trials; ++i) {
    const bool use_lib = i % 2 == 0;
    const auto& clone = use_lib ? lib_clone : cli_clone;
    // Each side edits its own file, so that the replay never conflicts for the CLI either.
    write_file(clone / (use_lib ? "data/users.json" : "node_crypto/nodes.json"),
               "{\"k" + std::to_string(i) + "\": {\"n\": 1}}\n");
    auto start = clock_type::now();
    if (use_lib) {
      if (!breathe(port, "20261122T000000Z"))
        must("false # push refused 3 times");
      lib.push_back(ms_since(start));
    } else {
      cli_breath(clone, "node_crypto/nodes.json", i);
      cli.push_back(ms_since(start));
    }
  }
  std::printf("one changed file, %s:\n",
              shared ? "both push to one origin (every breath replays)" : "remote unchanged");
  report("  libgit2 in-process", lib);
  report("  git CLI add/commit/pull --rebase/push", cli);
  std::printf("  speed-up p50: %.1fx\n", percentile(cli, 50) / percentile(lib, 50));
  must(git_cli + "--git-dir " + box.origin() + " fsck --no-progress");
}

/// CPU of a process running an actor system for `seconds`, with or without a breather on an
/// unchanged clone breathing every `interval`.
double idle_cpu_ms(double seconds, duration interval, bool with_breather, std::size_t* breaths) {
  sandbox box;
  auto clone = box.clone("idle");
  caf::actor_system_config cfg;
  register_messages(cfg);
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  caf::actor breather;
  auto settings = breath_settings_for(clone.string(), "bench");
  settings.interval = interval;
  if (with_breather)
    breather = spawn_breather(
        sys, breather_params{"bench", settings, std::make_shared<git_port>(settings, "bench")});
  std::this_thread::sleep_for(500ms); // start-up and the first breath are not idle
  auto before = cpu_ms();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  auto used = cpu_ms() - before;
  if (with_breather) {
    caf::scoped_actor self{sys};
    self->request(breather, 5s, history_atom::value)
        .receive([&](std::vector<breath_report>& h) { *breaths = h.size(); }, [](caf::error&) {});
    caf::anon_send_exit(breather, caf::exit_reason::user_shutdown);
  }
  return used;
}

} // namespace

int main(int argc, char** argv) {
  int trials = 30;
  double idle_seconds = 36;
  long interval_ms = 12000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--trials") == 0)
      trials = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--idle-seconds") == 0)
      idle_seconds = std::atof(argv[i + 1]);
    else if (std::strcmp(argv[i], "--interval-ms") == 0)
      interval_ms = std::atol(argv[i + 1]);
  }
  // The origins are local paths pushed to by one breath at a time: their warning is noise here.
  spdlog::set_level(spdlog::level::err);
  compare(trials, false);
  compare(trials, true);
  std::size_t breaths = 0;
  auto base = idle_cpu_ms(idle_seconds, duration{interval_ms}, false, nullptr);
  auto with = idle_cpu_ms(idle_seconds, duration{interval_ms}, true, &breaths);
  std::printf("idle over %.0f s, interval %ld ms: actor system alone %.1f ms CPU, with breather "
              "%.1f ms CPU (%zu breaths so far): breather %.2f ms CPU per second = %.3f%% of a "
              "core\n",
              idle_seconds, interval_ms, base, with, breaths, (with - base) / idle_seconds,
              (with - base) / idle_seconds / 10.0);
}
