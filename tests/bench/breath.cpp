// Breath benchmark: the time of one breath with one changed file, libgit2 in-process (the steps
// of the breather's git_port) against the original's CLI sequence (`git add`, `git commit`,
// `git pull --rebase`, `git push`), alternating on the same clone of a local bare origin in the
// same run; once with the remote unchanged and once with a commit from another clone to replay
// onto. Then the CPU the breather itself uses while nothing changes. Then the size axis: a
// users.json of 1k, 10k and 100k users (about 1 KB each, like the bot's), breathed by the holder's
// port (sync_mode::hold) with nothing new, with one changed user, and with one changed user
// merged with one change of another clone; time per breath and the memory it took. See
// docs/benchmarks.md.
//
//   montana-bench-breath [--trials N] [--idle-seconds S] [--interval-ms MS]
//                        [--sizes 1000,10000,100000] [--size-trials N] [--only-sizes 1]
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
#include <fstream>
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

/// One user of a bot's users.json, as text: names, flags and a history of 10 messages.
std::string user_text(std::size_t i, int version) {
  std::string history;
  for (int m = 0; m < 10; ++m)
    history += std::string{m == 0 ? "" : ", "} + "{\"role\": \"" + (m % 2 ? "assistant" : "user") +
               "\", \"content\": \"message " + std::to_string(m) + " of user " + std::to_string(i) +
               ", version " + std::to_string(version) + ": some words the bot keeps for context\"}";
  return "\"" + std::to_string(100000000 + i) + "\": {\"first_name\": \"User " + std::to_string(i) +
         "\", \"username\": \"user_" + std::to_string(i) +
         "\", \"approved\": true, \"pending_approval\": false, \"history\": [" + history + "]}";
}

/// users.json with `n` users, user `changed` at `version` (the others at 0); written in one
/// line like Python's json.dump.
std::string users_text(std::size_t n, std::size_t changed = 0, int version = 0,
                       std::size_t other = 0, int other_version = 0) {
  std::string out = "{";
  for (std::size_t i = 0; i < n; ++i)
    out += (i ? ", " : "") + user_text(i, i == changed ? version : i == other ? other_version : 0);
  return out + "}\n";
}

/// Resident and peak memory of this process, in MB (VmRSS, VmHWM).
std::pair<double, double> memory_mb() {
  std::ifstream in{"/proc/self/status"};
  double rss = 0, hwm = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:"))
      rss = std::atof(line.c_str() + 6) / 1024.0;
    if (line.starts_with("VmHWM:"))
      hwm = std::atof(line.c_str() + 6) / 1024.0;
  }
  return {rss, hwm};
}

/// Lets VmHWM start over from the current resident size.
void reset_peak() {
  std::ofstream{"/proc/self/clear_refs"} << "5";
}

/// Milliseconds of each step of the holder's breaths (exhale, fetch, inhale, push).
struct step_times {
  std::vector<double> exhale, fetch, inhale, push;
};

/// The breath of the holder's port: exhale, fetch, inhale, push when ahead.
void holder_breath(git_port& port, const std::string& utc, step_times* steps = nullptr) {
  auto timed = [&](std::vector<double> step_times::*which, auto&& f) {
    auto start = clock_type::now();
    f();
    if (steps)
      (steps->*which).push_back(ms_since(start));
  };
  timed(&step_times::exhale, [&] { port.exhale("[sync] bench", utc, sync_mode::hold); });
  for (int attempt = 0; attempt < 3; ++attempt) {
    timed(&step_times::fetch, [&] { port.fetch(net); });
    timed(&step_times::inhale, [&] { port.inhale(utc, sync_mode::hold); });
    if (port.ahead() == 0)
      return;
    bool pushed = false;
    timed(&step_times::push, [&] { pushed = port.push(net).pushed; });
    if (pushed)
      return;
  }
  must("false # push refused 3 times");
}

/// "exhale 1.2, fetch 3.4, inhale 0.5, push 7.8 ms" (p50 of each).
std::string steps_line(const step_times& t) {
  char text[160];
  std::snprintf(text, sizeof text, "exhale %.1f, fetch %.1f, inhale %.1f, push %.1f ms",
                percentile(t.exhale, 50), percentile(t.fetch, 50), percentile(t.inhale, 50),
                percentile(t.push, 50));
  return text;
}

/// The size axis: one users.json of `n` users breathed with nothing new, one change, a merge.
void sizes(std::size_t n, int trials) {
  sandbox box;
  auto seed = box.clone("sized");
  write_file(seed / "data/users.json", users_text(n));
  must(git(seed, "commit -q -am users") + " && " + git(seed, "push -q origin main"));
  auto holder = box.clone("holder");
  auto other = box.clone("other");
  git_port port{breath_settings_for(holder.string(), "bench"), "bench"};
  git_port other_port{breath_settings_for(other.string(), "other"), "other"};
  port.prepare();
  other_port.prepare();
  const auto file_mb = static_cast<double>(fs::file_size(holder / "data/users.json")) / 1e6;
  std::vector<double> idle, one, merge, idle_peak, one_peak, merge_peak;
  step_times idle_steps, one_steps, merge_steps;
  auto measure = [&](std::vector<double>& times, std::vector<double>& peaks, auto&& f) {
    reset_peak();
    auto before = memory_mb().first;
    auto start = clock_type::now();
    f();
    times.push_back(ms_since(start));
    peaks.push_back(memory_mb().second - before);
  };
  holder_breath(port, "20261122T000000Z"); // the first read of the file is not "nothing new"
  std::this_thread::sleep_for(50ms);
  int version = 0;
  for (int t = 0; t < trials; ++t) {
    measure(idle, idle_peak, [&] { holder_breath(port, "20261122T000000Z", &idle_steps); });
    // The bot rewrites the whole file with one user changed.
    write_file(holder / "data/users.json", users_text(n, 7, ++version));
    std::this_thread::sleep_for(50ms);
    measure(one, one_peak, [&] { holder_breath(port, "20261122T000000Z", &one_steps); });
    // Another clone changes another user and pushes; the holder changes one more: a merge.
    write_file(other / "data/users.json", users_text(n, 7, version, n - 3, version));
    other_port.exhale("[sync] other", "20261122T000000Z", sync_mode::follow);
    other_port.fetch(net);
    other_port.inhale("20261122T000000Z", sync_mode::follow);
    if (!other_port.push(net).pushed)
      must("false # the other clone's push was refused");
    write_file(holder / "data/users.json", users_text(n, 7, ++version));
    std::this_thread::sleep_for(50ms);
    measure(merge, merge_peak, [&] { holder_breath(port, "20261122T000000Z", &merge_steps); });
    // The other clone catches up, so its next change is one user again.
    other_port.fetch(net);
    other_port.inhale("20261122T000000Z", sync_mode::follow);
  }
  rusage children{};
  ::getrusage(RUSAGE_CHILDREN, &children);
  std::printf("%zu users, users.json %.1f MB:\n", n, file_mb);
  report("  nothing new", idle);
  std::printf("    %s\n", steps_line(idle_steps).c_str());
  report("  one changed user", one);
  std::printf("    %s\n", steps_line(one_steps).c_str());
  report("  one changed user + a remote merge", merge);
  std::printf("    %s\n", steps_line(merge_steps).c_str());
  std::printf("  memory over the breath, peak: nothing new %.1f MB, one change %.1f MB, merge "
              "%.1f MB (max of trials); transfer process peak %.1f MB\n",
              *std::max_element(idle_peak.begin(), idle_peak.end()),
              *std::max_element(one_peak.begin(), one_peak.end()),
              *std::max_element(merge_peak.begin(), merge_peak.end()),
              static_cast<double>(children.ru_maxrss) / 1024.0);
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
  use_built_transfer();
  int trials = 30;
  double idle_seconds = 36;
  long interval_ms = 12000;
  std::vector<std::size_t> user_counts{1000, 10000, 100000};
  int size_trials = 10;
  bool only_sizes = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--sizes") == 0) {
      user_counts.clear();
      for (const char* p = argv[i + 1]; *p; p += *p == ',') {
        char* end = nullptr;
        user_counts.push_back(std::strtoul(p, &end, 10));
        p = end;
      }
    } else if (std::strcmp(argv[i], "--size-trials") == 0)
      size_trials = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--only-sizes") == 0)
      only_sizes = std::atoi(argv[i + 1]) != 0;
    else if (std::strcmp(argv[i], "--trials") == 0)
      trials = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--idle-seconds") == 0)
      idle_seconds = std::atof(argv[i + 1]);
    else if (std::strcmp(argv[i], "--interval-ms") == 0)
      interval_ms = std::atol(argv[i + 1]);
  }
  // The origins are local paths pushed to by one breath at a time: their warning is noise here.
  spdlog::set_level(spdlog::level::err);
  if (only_sizes) {
    for (auto n : user_counts)
      sizes(n, size_trials);
    return 0;
  }
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
  for (auto n : user_counts)
    sizes(n, size_trials);
}
