#define CAF_SUITE runtime.git_port_crash
#include "caf/test/dsl.hpp"

#include "runtime/git_port.hpp"
#include "support/breathing.hpp"
#include "support/git_fixture.hpp"
#include "support/guard.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <random>
#include <thread>

using namespace montana;
using namespace montana::testing;
using nlohmann::json;

namespace {

/// Starts the breath loop on `clone` as `node`; its output goes to `<clone>.log`.
pid_t start_loop(const fs::path& clone, const std::string& node, const fs::path& journal) {
  std::string problem;
  auto pid = spawn_child({MONTANA_BREATH_LOOP_PATH, clone.string(), node, journal.string()},
                         "/dev/null", clone.string() + ".log", problem);
  if (pid < 0)
    GUARD_FAIL("cannot start the breath loop: " << problem);
  live_children.push_back(pid);
  return pid;
}

/// The numbers in a breath loop's journal.
std::vector<long> journaled(const fs::path& journal) {
  std::ifstream in{journal};
  std::vector<long> numbers;
  for (long n; in >> n;)
    numbers.push_back(n);
  return numbers;
}

/// Every key with a value in data/users.json and its conflict copies on the origin's main.
json keys_on_origin(const fs::path& origin) {
  const auto git_dir = git_cli + "--git-dir " + origin.string() + " ";
  json all = json::object();
  for (std::istringstream files{must(git_dir + "ls-tree --name-only main data/")};;) {
    std::string file;
    if (!std::getline(files, file))
      break;
    if (file != "data/users.json" && file.find("data/users.conflict-") != 0)
      continue;
    auto content = json::parse(must(git_dir + "show main:" + file), nullptr, false);
    if (content.is_object())
      for (const auto& [key, value] : content.items())
        if (!value.is_null()) // null: a deletion recorded in a conflict copy
          all[key] = value;
  }
  return all;
}

/// A fresh port's prepare and one breath on `clone`; returns what prepare repaired.
std::string recover(const fs::path& clone, const std::string& node, const std::string& utc) {
  git_port port{breath_settings_for(clone.string(), node), node};
  std::string repaired;
  try {
    repaired = port.prepare();
    if (!breathe(port, utc, 5))
      GUARD_FAIL(node << ": the push was refused five times after a crash");
  } catch (const std::exception& e) {
    GUARD_FAIL(node << ": prepare and breath after a crash failed: " << e.what());
  }
  return repaired;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(git_port_crash_tests, git_fixture)

CAF_TEST(breaths killed at random moments lose no write and leave clean clones) {
  live_dir = dir.string(); // GUARD_FAIL removes it after ending the children
  const auto seed = std::random_device{}();
  CAF_MESSAGE("seed " << seed);
  std::mt19937 random{seed};
  std::uniform_int_distribution<int> lifetime_ms{20, 250};
  const std::map<std::string, fs::path> clones{{"nodea", a}, {"nodeb", b}};
  const auto journal = [&](const std::string& node) { return dir / (node + ".journal"); };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{6};
  int kills = 0;
  int repairs = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<pid_t> pids;
    for (const auto& [node, clone] : clones)
      pids.push_back(start_loop(clone, node, journal(node)));
    std::this_thread::sleep_for(std::chrono::milliseconds{lifetime_ms(random)});
    for (auto pid : pids) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      std::erase(live_children, pid);
      ++kills;
    }
    // With a path as remote, libgit2 runs the server side of a push inside the killed process;
    // a real server outlives its client and drops its locks, so the test does that for origin.
    for (const auto& entry : fs::recursive_directory_iterator{origin})
      if (entry.path().extension() == ".lock")
        fs::remove(entry.path());
    const auto utc = "20260102T" + std::to_string(100000 + kills) + "Z";
    for (const auto& [node, clone] : clones) {
      if (auto repaired = recover(clone, node, utc); !repaired.empty()) {
        ++repairs;
        CAF_MESSAGE(node << " after kill " << kills << ": " << repaired);
      }
      check_settled(clone);
    }
  }
  // Both clones breathe until each has the other's last writes, then every journaled write
  // must be on the remote: in data/users.json or in a conflict copy.
  for (const auto& node : {"nodea", "nodeb", "nodea"})
    recover(clones.at(node), node, "20260103T000000Z");
  auto keys = keys_on_origin(origin);
  std::size_t writes = 0;
  for (const auto& [node, clone] : clones) {
    auto numbers = journaled(journal(node));
    writes += numbers.size();
    for (auto n : numbers)
      if (!keys.contains(node + "-" + std::to_string(n)))
        CAF_FAIL(node << "-" << n << " was written before a kill and never reached the remote");
    CAF_CHECK_EQUAL(
        json::parse(read_file(clone / "data/users.json")),
        json::parse(must(git_cli + "--git-dir " + origin.string() + " show main:data/users.json")));
  }
  CAF_MESSAGE(kills << " kills, " << repairs << " repairs, " << writes
                    << " journaled writes, all on the remote");
  CAF_CHECK_GREATER(writes, 0u);
  // Dangling objects of pushes killed half way are fine; errors are not.
  CAF_CHECK_EQUAL(run(git_cli + "--git-dir " + origin.string() + " fsck --no-progress").status, 0);
}

CAF_TEST_FIXTURE_SCOPE_END()
