#define CAF_SUITE integration.breath
#include "caf/test/dsl.hpp"

#include "actors/breather.hpp"
#include "runtime/git_port.hpp"
#include "tests/support/clones.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/guard.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Real nodes breathing real clones of one bare origin while writers edit the synced files:
// nothing written may be lost, every clone ends equal to the remote, nothing unrelated is ever
// committed, and the git CLI sees a sound repository.

namespace {

const std::map<std::string, std::string> seed = {
    {"data/users.json", "{\"1\": {\"first_name\": \"ann\"}}\n"},
    {"node_crypto/nodes.json", "{}\n"},
    {"README.md", "readme\n"},
};

/// Edits keys of its own ("<node>-<n>") in both synced files at random, under the writer lock
/// and by atomic replacement, and remembers the last value of each key (nullopt: deleted).
class writer {
public:
  writer(fs::path clone, std::string node, unsigned seed)
      : clone_(std::move(clone)), node_(std::move(node)), random_(seed) {}

  ~writer() { stop(); }

  void start() {
    thread_ = std::thread{[this] {
      while (!stopping_) {
        edit();
        std::this_thread::sleep_for(std::chrono::milliseconds{random_() % 15});
      }
    }};
  }

  void stop() {
    stopping_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  std::size_t edits() const { return edits_; }

  /// The final value this writer gave each of its keys, per file.
  const std::map<std::string, std::map<std::string, std::optional<nlohmann::json>>>&
  expected() const {
    return expected_;
  }

private:
  void edit() {
    const auto& file = synced[random_() % synced.size()];
    auto key = node_ + "-" + std::to_string(random_() % 12);
    sync_lock lock{sync_lock_path(clone_.string())};
    auto path = clone_ / file;
    auto doc = nlohmann::json::parse(read_file(path), nullptr, false);
    if (!doc.is_object())
      throw std::runtime_error{"not an object: " + path.string()};
    if (random_() % 5 == 0) {
      doc.erase(key);
      expected_[file][key] = std::nullopt;
    } else {
      nlohmann::json value = {{"by", node_}, {"edit", edits_}};
      doc[key] = value;
      expected_[file][key] = value;
    }
    auto temp = path;
    temp += ".writer";
    write_file(temp, doc.dump(2) + "\n");
    fs::rename(temp, path);
    ++edits_;
  }

  fs::path clone_;
  std::string node_;
  std::minstd_rand random_;
  std::thread thread_;
  std::atomic<bool> stopping_ = false;
  std::size_t edits_ = 0;
  std::map<std::string, std::map<std::string, std::optional<nlohmann::json>>> expected_;
};

/// Asks `n`'s breather to breathe now and waits for that breath's report.
breath_report breathe(node& n) {
  caf::scoped_actor self{n.system()};
  breath_report out;
  self->request(n.breather(), 30s, breathe_atom::value)
      .receive([&](breath_report& r) { out = std::move(r); },
               [&](caf::error& err) { CAF_FAIL("breathe: " << n.system().render(err)); });
  return out;
}

std::vector<breath_report> history(node& n) {
  caf::scoped_actor self{n.system()};
  std::vector<breath_report> out;
  self->request(n.breather(), 5s, history_atom::value)
      .receive([&](std::vector<breath_report>& h) { out = std::move(h); },
               [&](caf::error& err) { CAF_FAIL("history: " << n.system().render(err)); });
  return out;
}

/// Breathes every node in turn until a whole round changed nothing anywhere.
void settle(cluster& c, const std::vector<std::string>& nodes) {
  for (int round = 0; round < 6; ++round) {
    bool quiet = true;
    for (const auto& n : nodes) {
      // A push may still lose a race against a node's own 150 ms breath: not quiet yet.
      auto r = breathe(c.at(n));
      if (!r.ok)
        CAF_MESSAGE(n << ": " << describe(r));
      quiet = quiet && r.ok && r.commits_in == 0 && r.commits_out == 0;
    }
    if (quiet && round > 0)
      return;
  }
  CAF_FAIL("the clones did not settle");
}

/// Every writer's last value of every key is on the remote; no conflict copy was needed.
void check_nothing_lost(const clones& repos, const std::vector<writer*>& writers) {
  std::size_t keys = 0;
  for (const auto& file : synced) {
    auto doc = nlohmann::json::parse(repos.show(file));
    for (auto* w : writers) {
      auto i = w->expected().find(file);
      if (i == w->expected().end())
        continue;
      for (const auto& [key, value] : i->second) {
        ++keys;
        auto found = doc.contains(key) ? doc[key].dump() : "absent";
        CAF_CHECK_EQUAL(file + " " + key + " = " + found,
                        file + " " + key + " = " + (value ? value->dump() : "absent"));
      }
    }
    if (file == "data/users.json") // the seed's user, never edited
      CAF_CHECK_EQUAL(doc["1"]["first_name"], "ann");
  }
  CAF_MESSAGE(keys << " keys checked");
  CAF_CHECK(keys > 0);
  auto tree =
      must(git_cli + "--git-dir " + repos.repos.origin.string() + " ls-tree -r --name-only main");
  // Writers of different keys never conflict: a copy here would mean a wrong merge base.
  CAF_CHECK_EQUAL(tree.find(".conflict-"), std::string::npos);
  if (tree.find(".conflict-") != std::string::npos)
    CAF_MESSAGE(tree << must(git_cli + "--git-dir " + repos.repos.origin.string() +
                             " log -p --format=%s main -- '*conflict*' | head -120"));
}

/// Breaths that failed for another reason than a push race, or than giving way to the hand-over
/// breath that came next (a node taking the duty interrupts its regular breath's transfer).
std::vector<std::string> unexpected_failures(node& n) {
  std::vector<std::string> out;
  auto h = history(n);
  for (size_t i = 0; i < h.size(); ++i) {
    const auto& r = h[i];
    auto gave_way =
        r.error.ends_with(": interrupted") && i + 1 < h.size() && !h[i + 1].handover.empty();
    if (!r.ok && r.failed_step != "push" && !gave_way)
      out.push_back(describe(r));
  }
  return out;
}

/// The nodes `nodes` breathing their clones every 150 ms, each with a random writer at work.
struct writing_cluster {
  std::vector<std::string> nodes;
  clones repos;
  cluster c;
  std::vector<std::unique_ptr<writer>> writers;

  writing_cluster(std::vector<std::string> names, unsigned seed)
      : nodes{std::move(names)}, repos{nodes}, c{profile::test, repos.tweak(duration{150})} {
    for (const auto& n : nodes)
      c.start(n);
    for (const auto& n : nodes)
      writers.push_back(std::make_unique<writer>(repos.at(n), n, seed++));
    for (auto& w : writers)
      w->start();
  }

  /// Stops the writers, lets the nodes settle and checks that no edit was lost and every clone
  /// equals the remote.
  void finish() {
    std::vector<writer*> all;
    std::size_t edits = 0;
    for (auto& w : writers) {
      w->stop();
      all.push_back(w.get());
      edits += w->edits();
    }
    CAF_MESSAGE(edits << " edits by " << nodes.size() << " writers");
    settle(c, nodes);
    check_nothing_lost(repos, all);
    auto holders = c.running();
    for (const auto& n : nodes)
      repos.check_equal_to_remote(n, std::find(holders.begin(), holders.end(), n) != holders.end());
  }
};

void run_writers(const std::vector<std::string>& nodes, caf::timespan how_long) {
  writing_cluster w{nodes, 7};
  std::this_thread::sleep_for(how_long);
  w.finish();
  for (const auto& n : nodes) {
    w.repos.check_local_edits_untouched(n);
    CAF_CHECK_EQUAL(unexpected_failures(w.c.at(n)), std::vector<std::string>{});
  }
  CAF_CHECK_EQUAL(
      run(git_cli + "--git-dir " + w.repos.repos.origin.string() + " fsck --no-progress").status,
      0);
}

} // namespace

CAF_TEST(two nodes breathing under random writers lose nothing) {
  run_writers({"amsterdam", "moscow"}, 3s);
}

CAF_TEST(five nodes breathing under random writers lose nothing) {
  run_writers({"amsterdam", "moscow", "almaty", "spb", "novosibirsk"}, 4s);
}

CAF_TEST(the same key changed on two nodes keeps the remote value and ours in a copy) {
  const std::vector<std::string> nodes{"amsterdam", "moscow"};
  clones repos{nodes};
  // Breaths only when asked (the first one runs at start).
  cluster c{profile::test, repos.tweak(duration{3600000})};
  for (const auto& n : nodes)
    c.start(n);
  for (const auto& n : nodes)
    wait_until([&] { return !history(c.at(n)).empty(); }, 10s);
  write_file(repos.at("amsterdam") / "data/users.json",
             R"({"1": {"first_name": "ann", "approved": true}, "2": {"first_name": "amy"}})");
  write_file(repos.at("moscow") / "data/users.json",
             R"({"1": {"first_name": "anna"}, "3": {"first_name": "max"}})");
  CAF_REQUIRE(breathe(c.at("amsterdam")).ok);
  auto r = breathe(c.at("moscow"));
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.conflicts, std::vector<std::string>{"data/users.json"});
  CAF_REQUIRE_EQUAL(r.copies.size(), 1u);
  CAF_CHECK(r.copies[0].starts_with("data/users.conflict-moscow-"));
  CAF_CHECK(breathe(c.at("amsterdam")).ok);
  auto merged = nlohmann::json::parse(repos.show("data/users.json"));
  CAF_CHECK_EQUAL(merged["1"]["first_name"], "ann"); // the remote's (amsterdam pushed first)
  CAF_CHECK_EQUAL(merged["1"]["approved"], true);
  CAF_CHECK_EQUAL(merged["2"]["first_name"], "amy");
  CAF_CHECK_EQUAL(merged["3"]["first_name"], "max"); // a key only moscow changed
  auto copy = nlohmann::json::parse(repos.show(r.copies[0]));
  CAF_CHECK_EQUAL(copy["1"]["first_name"], "anna"); // moscow's value, kept
  auto holders = c.running();
  for (const auto& n : nodes) {
    repos.check_equal_to_remote(n, std::find(holders.begin(), holders.end(), n) != holders.end());
    CAF_CHECK(fs::exists(repos.at(n) / r.copies[0]));
  }
}

CAF_TEST(a remote that is gone for a while gets every local commit when it is back) {
  writing_cluster w{{"amsterdam", "moscow", "almaty"}, 11};
  std::this_thread::sleep_for(500ms);
  w.repos.stop_daemon();
  // Failed breaths name the step and the remote; local commits pile up.
  CAF_CHECK(wait_until(
      [&] {
        auto h = history(w.c.at("moscow"));
        return !h.empty() && !h.back().ok && h.back().failed_step == "fetch";
      },
      10s));
  std::this_thread::sleep_for(1500ms);
  auto h = history(w.c.at("moscow"));
  CAF_MESSAGE("while away: " << describe(h.back()));
  CAF_CHECK(h.back().pending > 0);
  w.repos.start_daemon();
  std::this_thread::sleep_for(500ms);
  w.finish();
}

CAF_TEST(commits made with the git CLI in another clone arrive on every node) {
  const std::vector<std::string> nodes{"amsterdam", "moscow", "almaty", "spb", "novosibirsk"};
  clones repos{nodes};
  cluster c{profile::test, repos.tweak(duration{150})};
  for (const auto& n : nodes)
    c.start(n);
  auto human = repos.clone("human");
  write_file(human / "data/users.json",
             R"({"1": {"first_name": "ann"}, "42": {"first_name": "by hand"}})"
             "\n");
  write_file(human / "docs/notes.txt", "not a synced file, but committed by a human\n");
  must(git(human, "add -A") + " && " + git(human, "commit -q -m 'by hand'") + " && " +
       git(human, "push -q origin main"));
  settle(c, nodes);
  CAF_REQUIRE(c.wait_for_holder("amsterdam", 30s));
  for (const auto& n : nodes) {
    // The holder's duty owns its working file: the edit is in its commits, and reaches the file
    // when the duty next starts (below).
    auto users =
        nlohmann::json::parse(n == "amsterdam" ? must(git(repos.at(n), "show HEAD:data/users.json"))
                                               : read_file(repos.at(n) / "data/users.json"));
    CAF_CHECK_EQUAL(users["42"]["first_name"], "by hand");
    CAF_CHECK_EQUAL(read_file(repos.at(n) / "docs/notes.txt"),
                    "not a synced file, but committed by a human\n");
    repos.check_equal_to_remote(n, n == "amsterdam");
    repos.check_local_edits_untouched(n);
  }
  // The duty moves on: the old holder's files follow the remote again.
  {
    caf::scoped_actor self{c.at("amsterdam").system()};
    self->request(c.at("amsterdam").leaders().begin()->second, 60s, step_down_atom::value,
                  std::string{"test"})
        .receive([](const action_result& r) { CAF_CHECK(r.ok); },
                 [](caf::error& err) { CAF_FAIL("step-down: " << to_string(err)); });
  }
  CAF_REQUIRE(c.wait_for_holder("moscow", 30s));
  settle(c, nodes);
  auto users = nlohmann::json::parse(read_file(repos.at("amsterdam") / "data/users.json"));
  CAF_CHECK_EQUAL(users["42"]["first_name"], "by hand");
  repos.check_equal_to_remote("amsterdam");
  // And the CLI keeps working on top of what the nodes pushed.
  must(git(human, "pull -q --rebase origin main"));
  CAF_CHECK_EQUAL(run(git(human, "fsck --no-progress")).status, 0);
}
