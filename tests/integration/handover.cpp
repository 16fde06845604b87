#define CAF_SUITE integration.handover
#include "caf/test/dsl.hpp"

#include "tests/support/clones.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

// The bot's data moves with the bot. Five real nodes breathe real clones every second; the duty
// is a bot that rewrites data/users.json in place (not atomically) every 100 ms and journals
// every write; a person edits the same file with the git CLI in a clone of their own. The duty
// moves by every kind of move: step-down, resume, SIGTERM (leave), restart, kill -9. Then:
// planned moves lost no write; a crash lost only writes of the dead holder, all of them in a
// conflict copy; no commit of the remote holds JSON that does not parse; every edit of the
// person survived.

namespace {

const std::vector<std::string> nodes{"amsterdam", "moscow", "almaty", "spb", "novosibirsk"};

std::string writer_program() {
  return (fs::path{MONTANA_RECORDER_PATH}.parent_path() / "montana-journal-writer").string();
}

struct entry {
  std::string id;
  std::string user;
  std::string node;
  std::string pid;
};

/// The journal: one line per completed write.
std::vector<entry> read_journal(const fs::path& path) {
  std::vector<entry> out;
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words{line};
    entry e;
    if (!(words >> e.id >> e.user))
      continue;
    // "<node>-<term>-<pid>-<seq>"
    auto first = e.id.find('-');
    auto last = e.id.rfind('-');
    auto before_last = e.id.rfind('-', last - 1);
    e.node = e.id.substr(0, first);
    e.pid = e.id.substr(before_last + 1, last - before_last - 1);
    out.push_back(std::move(e));
  }
  return out;
}

/// Someone with the git CLI in a clone of their own: every 700 ms adds a key "cli-N" to
/// data/users.json on top of the remote's main and pushes, again until the remote takes it.
class cli_user {
public:
  explicit cli_user(fs::path clone) : clone_(std::move(clone)) {
    thread_ = std::thread{[this] {
      while (!stopping_) {
        std::this_thread::sleep_for(700ms);
        if (edit())
          ++pushed_;
      }
    }};
  }
  ~cli_user() { stop(); }

  void stop() {
    stopping_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  int pushed() const { return pushed_; }

private:
  bool edit() {
    if (run(git(clone_, "fetch -q origin") + " && " + git(clone_, "reset -q --hard origin/main"))
            .status != 0)
      return false;
    auto users = nlohmann::json::parse(read_file(clone_ / "data/users.json"), nullptr, false);
    if (!users.is_object())
      return false;
    users["cli-" + std::to_string(pushed_)] = {{"approved", true}, {"by", "hand"}};
    write_file(clone_ / "data/users.json", users.dump(2) + "\n");
    return run(git(clone_, "commit -q -am 'by hand'") + " && " + git(clone_, "push -q origin main"))
               .status == 0;
  }

  fs::path clone_;
  std::thread thread_;
  std::atomic<bool> stopping_ = false;
  std::atomic<int> pushed_ = 0;
};

/// Every commit of the remote's main: each JSON file it holds parses.
void check_every_commit_parses(const clones& repos) {
  auto git_dir = git_cli + "--git-dir " + repos.repos.origin.string() + " ";
  std::istringstream commits{must(git_dir + "rev-list main")};
  int checked = 0;
  for (std::string commit; std::getline(commits, commit);) {
    std::istringstream files{must(git_dir + "ls-tree -r --name-only " + commit)};
    for (std::string file; std::getline(files, file);) {
      if (!file.ends_with(".json"))
        continue;
      ++checked;
      auto text = must(git_dir + "show " + commit + ":" + file);
      if (!nlohmann::json::accept(text))
        CAF_FAIL("commit " << commit << " holds " << file
                           << " that does not parse: " << text.substr(0, 200));
    }
  }
  CAF_MESSAGE(checked << " JSON files in the remote's history parse");
}

struct moving_cluster {
  clones repos{nodes};
  fs::path journal;
  cluster c;

  moving_cluster()
      : journal{repos.repos.dir / "journal"},
        c{profile::test, [this](config& cfg) {
            repos.tweak(duration{1000})(cfg);
            auto& duty = cfg.duties.at(0);
            duty.command = {writer_program(), repos.repos.dir.string(), journal.string()};
            duty.stop_grace = duration{5000};
            cfg.breath.handover_timeout = duration{10000};
          }} {}

  /// Waits until `node`'s bot journals a write after `since` entries; fails otherwise.
  std::size_t wait_writing(const std::string& node, std::size_t since) {
    std::size_t now = since;
    bool ok = wait_until(
        [&] {
          auto all = read_journal(journal);
          for (std::size_t i = since; i < all.size(); ++i)
            if (all[i].node == node) {
              now = all.size();
              return true;
            }
          return false;
        },
        60s);
    if (!ok)
      CAF_FAIL(node << " never wrote after entry " << since);
    return now;
  }

  std::size_t entries() { return read_journal(journal).size(); }

  /// The pid of the bot that wrote the newest entry.
  std::string newest_pid() {
    auto all = read_journal(journal);
    return all.empty() ? "" : all.back().pid;
  }

  template <class Atom>
  void operator_action(const std::string& node, Atom action) {
    auto& n = c.at(node);
    caf::scoped_actor self{n.system()};
    bool ok = false;
    self->request(n.leaders().begin()->second, 60s, action, std::string{"test"})
        .receive([&](const action_result& r) { ok = r.ok; }, [](caf::error&) {});
    CAF_REQUIRE(ok);
  }
};

} // namespace

CAF_TEST(every kind of move keeps the writes of the bot and no broken file is ever committed) {
  moving_cluster m;
  for (const auto& n : nodes)
    m.c.start(n);
  auto human = m.repos.clone("human");
  cli_user person{human};
  std::set<std::string> killed; // pids of bots whose node was killed
  auto at = m.wait_writing("amsterdam", 0);
  auto move = [&](const std::string& what, const std::function<void()>& act,
                  const std::string& next) {
    CAF_MESSAGE(what);
    std::this_thread::sleep_for(1500ms);
    auto before = m.entries();
    act();
    at = m.wait_writing(next, before);
  };
  move(
      "step-down amsterdam", [&] { m.operator_action("amsterdam", step_down_atom::value); },
      "moscow");
  move(
      "resume amsterdam (hand-back)", [&] { m.operator_action("amsterdam", resume_atom::value); },
      "amsterdam");
  move(
      "SIGTERM amsterdam (leave)", [&] { m.c.at("amsterdam").leave(); }, "moscow");
  move(
      "restart amsterdam (hand-back)", [&] { m.c.start("amsterdam"); }, "amsterdam");
  move(
      "kill -9 amsterdam",
      [&] {
        killed.insert(m.newest_pid());
        m.c.kill("amsterdam");
      },
      "moscow");
  move(
      "restart amsterdam after its crash (hand-back)", [&] { m.c.start("amsterdam"); },
      "amsterdam");
  move(
      "step-down amsterdam", [&] { m.operator_action("amsterdam", step_down_atom::value); },
      "moscow");
  move(
      "kill -9 moscow",
      [&] {
        killed.insert(m.newest_pid());
        m.c.kill("moscow");
      },
      "almaty");
  move(
      "restart moscow (hand-back)", [&] { m.c.start("moscow"); }, "moscow");
  move(
      "resume amsterdam (hand-back)", [&] { m.operator_action("amsterdam", resume_atom::value); },
      "amsterdam");
  std::this_thread::sleep_for(1500ms);
  person.stop();
  // The last holder leaves last: nobody takes over, its hand-over breath pushes the last writes.
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it)
    m.c.at(*it).leave();

  auto journal = read_journal(m.journal);
  auto final_users = nlohmann::json::parse(m.repos.show("data/users.json"));
  std::set<std::string> kept;
  for (auto& [user, value] : final_users.items())
    if (value.is_object() && value.contains("log"))
      for (const auto& id : value["log"])
        kept.insert(id.get<std::string>());
  std::set<std::string> in_copies;
  std::istringstream tree{must(git_cli + "--git-dir " + m.repos.repos.origin.string() +
                               " ls-tree -r --name-only main data")};
  int copies = 0;
  for (std::string file; std::getline(tree, file);) {
    if (file.find(".conflict-") == std::string::npos)
      continue;
    ++copies;
    auto copy = nlohmann::json::parse(m.repos.show(file));
    for (auto& [user, value] : copy.items())
      if (value.is_object() && value.contains("log"))
        for (const auto& id : value["log"])
          in_copies.insert(id.get<std::string>());
  }
  // A bot killed in the middle of its write destroyed its own file: what it held is in the
  // broken file the breather kept aside (as far as the bot had written it).
  std::map<std::string, std::string> aside;
  for (const auto& n : nodes)
    for (const auto& file : fs::directory_iterator{m.repos.at(n) / "data"})
      if (file.path().filename().string().starts_with("users.json.broken-"))
        aside[n] += read_file(file.path());
  std::size_t lost_in_copies = 0, lost_aside = 0, destroyed = 0;
  std::vector<std::string> lost;
  for (const auto& e : journal) {
    if (kept.count(e.id))
      continue;
    if (!killed.count(e.pid))
      lost.push_back(e.id + " (a planned move)");
    else if (in_copies.count(e.id))
      ++lost_in_copies;
    else if (aside[e.node].find("\"" + e.id + "\"") != std::string::npos)
      ++lost_aside;
    else if (!aside[e.node].empty())
      ++destroyed; // after the point where the killed bot's own write broke off
    else
      lost.push_back(e.id + " (a crashed holder's, in no copy)");
  }
  CAF_MESSAGE(journal.size() << " journaled writes, " << kept.size() << " in the final file; of "
                             << "crashed holders " << lost_in_copies << " only in " << copies
                             << " conflict copies, " << lost_aside
                             << " only in a broken file kept aside, " << destroyed
                             << " destroyed by the bot's own interrupted write");
  CAF_CHECK_EQUAL(lost, std::vector<std::string>{});
  CAF_CHECK_GREATER(journal.size(), 100u);
  for (int i = 0; i < person.pushed(); ++i)
    CAF_CHECK(final_users.contains("cli-" + std::to_string(i)));
  CAF_MESSAGE(person.pushed() << " edits by hand");
  CAF_CHECK_GREATER(person.pushed(), 3);
  check_every_commit_parses(m.repos);
}
