#define CAF_SUITE runtime.git_port
#include "caf/test/dsl.hpp"

#include "runtime/git_port.hpp"
#include "support/breathing.hpp"
#include "support/git_fixture.hpp"
#include "support/log_capture.hpp"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace montana;
using namespace montana::testing;
using nlohmann::json;

namespace {

const std::string utc = "20260101T000000Z";

/// A prepared port on `clone` for `node`.
std::unique_ptr<git_port> port_on(const fs::path& clone, const std::string& node,
                                  git_port_options options = {}) {
  auto port = std::make_unique<git_port>(breath_settings_for(clone.string(), node), node,
                                         std::move(options));
  port->prepare();
  return port;
}

json users(const fs::path& clone) {
  return json::parse(read_file(clone / "data/users.json"));
}

/// The value of `key` in the clone's data/users.json, empty when it has none.
std::string user(const fs::path& clone, const std::string& key) {
  return users(clone).value(key, "");
}

/// Adds `key` = `value` to the clone's data/users.json.
void add_user(const fs::path& clone, const std::string& key, const std::string& value) {
  auto all = users(clone);
  all[key] = value;
  write_file(clone / "data/users.json", all.dump(2) + "\n");
}

/// data/users.json as the origin's main has it.
json origin_users(const fs::path& origin) {
  return json::parse(must(git_cli + "--git-dir " + origin.string() + " show main:data/users.json"));
}

/// Ports on a and b after a set `key_a` to "from a" and pushed, and b set `key_b` to "from b"
/// and exhaled.
std::pair<std::unique_ptr<git_port>, std::unique_ptr<git_port>>
diverge(git_fixture& f, const std::string& key_a, const std::string& key_b) {
  auto port_a = port_on(f.a, "nodea");
  auto port_b = port_on(f.b, "nodeb");
  add_user(f.a, key_a, "from a");
  add_user(f.b, key_b, "from b");
  if (!breathe(*port_a, utc) || port_b->exhale("[sync] b", utc, sync_mode::follow).commit.empty())
    CAF_FAIL("diverge failed");
  return {std::move(port_a), std::move(port_b)};
}

/// Whether `paths` holds `path`.
bool lists(const std::vector<std::string>& paths, const std::string& path) {
  return std::find(paths.begin(), paths.end(), path) != paths.end();
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(git_port_tests, git_fixture)

CAF_TEST(exhale commits only the synced paths and leaves a dirty tree exactly as it was) {
  write_file(a / "README.md", "edited, not for sync\n");
  write_file(a / "staged.txt", "staged\n");
  write_file(a / "node_crypto/extra.json", "{\"staged\": \"next to a synced file\"}\n");
  must(git(a, "add staged.txt node_crypto/extra.json"));
  write_file(a / "staged.txt", "staged, then edited again\n");
  write_file(a / "untracked.txt", "untracked\n");
  add_user(a, "2", "bob");
  auto status_before = must(git(a, "status --porcelain"));
  auto staged_before = must(git(a, "diff --cached"));
  auto unstaged_before = must(git(a, "diff -- README.md staged.txt"));
  auto port = port_on(a, "nodea");
  auto result = port->exhale("[sync] nodea breathes", utc, sync_mode::follow);
  CAF_REQUIRE(!result.commit.empty());
  CAF_CHECK_EQUAL(result.commit + "\n", head(a));
  CAF_CHECK(result.conflicts.empty() && result.copies.empty());
  CAF_CHECK_EQUAL(must(git(a, "show --name-status --format= HEAD")), "M\tdata/users.json\n");
  CAF_CHECK_EQUAL(must(git(a, "log -1 --format=%an/%ae/%s")),
                  "montana nodea/nodea@montana.network/[sync] nodea breathes\n");
  CAF_CHECK_EQUAL(json::parse(must(git(a, "show HEAD:data/users.json"))), users(a));
  // Everything else: the same status, the same staged and unstaged changes, the same files.
  auto status_after = status_before;
  status_after.erase(status_after.find(" M data/users.json\n"), 19);
  CAF_CHECK_EQUAL(must(git(a, "status --porcelain")), status_after);
  CAF_CHECK_EQUAL(must(git(a, "diff --cached")), staged_before);
  CAF_CHECK_EQUAL(must(git(a, "diff -- README.md staged.txt")), unstaged_before);
  CAF_CHECK_EQUAL(read_file(a / "untracked.txt"), "untracked\n");
  CAF_CHECK(port->exhale("[sync] again", utc, sync_mode::follow).commit.empty());
  CAF_CHECK_EQUAL(port->ahead(), 1u);
  auto pushed = port->push(net);
  CAF_CHECK(pushed.pushed);
  CAF_CHECK_EQUAL(pushed.commits, 1u);
  CAF_CHECK_EQUAL(port->push(net).commits, 0u);
  CAF_CHECK_EQUAL(must(git_cli + "--git-dir " + origin.string() + " ls-tree -r --name-only main"),
                  "README.md\ndata/users.json\nnode_crypto/nodes.json\n");
  check_settled(a);
}

CAF_TEST(inhale brings clean files up to date and keeps dirty and untracked ones) {
  // a (the git CLI): a new file, an edit of a file b has edited too, a synced file.
  write_file(a / "docs/notes.txt", "from a\n");
  write_file(a / "README.md", "readme from a\n");
  add_user(a, "2", "from a");
  must(git(a, "add -A") + " && " + git(a, "commit -q -m a") + " && " +
       git(a, "push -q origin main"));
  // b: a dirty tracked file (refused by an on-disk rebase), untracked and staged files.
  write_file(b / "README.md", "readme edited in b\n");
  write_file(b / "untracked.txt", "untracked\n");
  write_file(b / "staged.txt", "staged\n");
  must(git(b, "add staged.txt"));
  auto port = port_on(b, "nodeb");
  CAF_CHECK_EQUAL(port->fetch(net), 1u);
  auto result = port->inhale(utc, sync_mode::follow);
  CAF_CHECK_EQUAL(result.replayed, 0u);
  CAF_CHECK_EQUAL(head(b), head(a));
  CAF_CHECK(lists(result.updated, "docs/notes.txt") && lists(result.updated, "data/users.json"));
  CAF_CHECK_EQUAL(result.kept, std::vector<std::string>{"README.md"});
  CAF_CHECK(result.deferred.empty());
  CAF_CHECK_EQUAL(read_file(b / "docs/notes.txt"), "from a\n");
  CAF_CHECK_EQUAL(user(b, "2"), "from a");
  CAF_CHECK_EQUAL(read_file(b / "README.md"), "readme edited in b\n");
  CAF_CHECK_EQUAL(read_file(b / "untracked.txt"), "untracked\n");
  // The index followed the branch where nothing was staged; the staged file stays staged.
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")),
                  " M README.md\nA  staged.txt\n?? untracked.txt\n");
  CAF_CHECK_EQUAL(port->fetch(net), 0u);
  CAF_CHECK(port->inhale(utc, sync_mode::follow).updated.empty());
  check_settled(b);
}

CAF_TEST(inhale replays local commits and removes files the branch deleted) {
  must(git(a, "rm -q README.md") + " && " + git(a, "commit -q -m rm") + " && " +
       git(a, "push -q origin main"));
  auto port = port_on(b, "nodeb");
  write_file(b / "node_crypto/nodes.json", "{\"mtb\": {}}\n");
  CAF_REQUIRE(!port->exhale("[sync] b", utc, sync_mode::follow).commit.empty());
  port->fetch(net);
  auto result = port->inhale(utc, sync_mode::follow);
  CAF_CHECK_EQUAL(result.replayed, 1u);
  CAF_CHECK_EQUAL(result.updated, std::vector<std::string>{"README.md"});
  CAF_CHECK(!fs::exists(b / "README.md"));
  CAF_CHECK_EQUAL(must(git(b, "rev-parse HEAD~1")), head(a));
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "");
  CAF_CHECK_EQUAL(port->ahead(), 1u);
  CAF_CHECK(port->push(net).pushed);
  check_settled(b);
}

CAF_TEST(the same key changed on two clones keeps the remote value and commits ours in a copy) {
  auto [port_a, port_b] = diverge(*this, "1", "1");
  CAF_CHECK_EQUAL(port_b->fetch(net), 1u);
  auto result = port_b->inhale(utc, sync_mode::follow);
  const auto copy = conflict_copy_path("data/users.json", "nodeb", utc);
  CAF_CHECK_EQUAL(result.conflicts, std::vector<std::string>{"data/users.json"});
  CAF_CHECK_EQUAL(result.copies, std::vector<std::string>{copy});
  CAF_CHECK(lists(result.updated, copy) && lists(result.updated, "data/users.json"));
  CAF_CHECK_EQUAL(user(b, "1"), "from a");
  CAF_CHECK_EQUAL(json::parse(read_file(b / copy)).value("1", ""), "from b");
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "");
  CAF_CHECK(port_b->push(net).pushed);
  CAF_CHECK(breathe(*port_a, utc));
  CAF_CHECK_EQUAL(json::parse(read_file(a / copy)).value("1", ""), "from b");
  CAF_CHECK_EQUAL(users(a), users(b));
  check_settled(a);
  check_settled(b);
}

CAF_TEST(different keys changed on two clones merge) {
  auto port_a = port_on(a, "nodea");
  auto port_b = port_on(b, "nodeb");
  add_user(a, "2", "from a");
  add_user(b, "3", "from b");
  CAF_REQUIRE(breathe(*port_a, utc));
  CAF_REQUIRE(breathe(*port_b, utc));
  CAF_REQUIRE(breathe(*port_a, utc));
  auto expected = json::parse(R"({"1": {"first_name": "ann"}, "2": "from a", "3": "from b"})");
  CAF_CHECK_EQUAL(users(a), expected);
  CAF_CHECK_EQUAL(users(b), expected);
  CAF_CHECK_EQUAL(origin_users(origin), expected);
  CAF_CHECK_EQUAL(must(git(b, "ls-files data")), "data/users.json\n");
}

CAF_TEST(a write landing between fetch and inhale is deferred and merged by the next exhale) {
  auto port_a = port_on(a, "nodea");
  auto port_b = port_on(b, "nodeb");
  add_user(a, "a1", "from a");
  CAF_REQUIRE(breathe(*port_a, utc));
  add_user(b, "b1", "exhaled");
  CAF_REQUIRE(!port_b->exhale("[sync] b1", utc, sync_mode::follow).commit.empty());
  port_b->fetch(net);
  add_user(b, "b2", "written during the breath");
  auto written = read_file(b / "data/users.json");
  auto result = port_b->inhale(utc, sync_mode::follow);
  CAF_CHECK_EQUAL(result.deferred, std::vector<std::string>{"data/users.json"});
  CAF_CHECK(!lists(result.updated, "data/users.json"));
  CAF_CHECK_EQUAL(read_file(b / "data/users.json"), written);
  CAF_CHECK(port_b->push(net).pushed);
  auto merged = port_b->exhale("[sync] merge", utc, sync_mode::follow);
  CAF_CHECK(merged.conflicts.empty()); // different keys: merged, no conflict
  CAF_CHECK(merged.copies.empty());
  CAF_CHECK(!merged.commit.empty());
  auto expected = json::parse(
      R"({"1": {"first_name": "ann"}, "a1": "from a", "b1": "exhaled", "b2": "written during the breath"})");
  CAF_CHECK_EQUAL(users(b), expected);
  CAF_CHECK_EQUAL(json::parse(must(git(b, "show HEAD:data/users.json"))), expected);
  CAF_CHECK(breathe(*port_b, utc));
  CAF_CHECK_EQUAL(origin_users(origin), expected);
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "");
  check_settled(b);
}

CAF_TEST(a write landing while the rebase runs is deferred and merged by the next exhale) {
  auto port_a = port_on(a, "nodea");
  add_user(a, "a1", "from a");
  CAF_REQUIRE(breathe(*port_a, utc));
  git_port_options options;
  int resolved = 0;
  options.resolve = [&](const merge_input& in) {
    // A writer following the lock protocol gets the lock: the port holds none while rebasing.
    sync_lock lock{sync_lock_path(b.string()), std::chrono::milliseconds{1000}};
    add_user(b, "b2", "written during the rebase");
    ++resolved;
    return merge_synced_file(in);
  };
  auto port_b = port_on(b, "nodeb", options);
  add_user(b, "b1", "exhaled");
  CAF_REQUIRE(!port_b->exhale("[sync] b1", utc, sync_mode::follow).commit.empty());
  port_b->fetch(net);
  auto result = port_b->inhale(utc, sync_mode::follow);
  CAF_CHECK_EQUAL(resolved, 1);
  CAF_CHECK(result.conflicts.empty()); // resolved by key, no conflict
  CAF_CHECK_EQUAL(result.deferred, std::vector<std::string>{"data/users.json"});
  CAF_CHECK_EQUAL(user(b, "b2"), "written during the rebase");
  CAF_CHECK_EQUAL(user(b, "a1"), "");
  CAF_CHECK(breathe(*port_b, utc));
  auto expected = json::parse(R"({"1": {"first_name": "ann"}, "a1": "from a", "b1": "exhaled",
                                  "b2": "written during the rebase"})");
  CAF_CHECK_EQUAL(users(b), expected);
  CAF_CHECK_EQUAL(origin_users(origin), expected);
  check_settled(b);
}

CAF_TEST(exhale heals a branch moved under the working tree by a crash) {
  auto port_a = port_on(a, "nodea");
  add_user(a, "a1", "from a");
  add_user(a, "a2", "from a");
  CAF_REQUIRE(breathe(*port_a, utc));
  // b's branch moves to a's commit but the working files stay (a crash right after the ref move).
  auto port_b = port_on(b, "nodeb");
  port_b->fetch(net);
  must(git(b, "update-ref refs/heads/main origin/main"));
  port_b.reset();
  port_b = port_on(b, "nodeb");
  auto healed = port_b->exhale("[sync] heal", utc, sync_mode::follow);
  CAF_CHECK(healed.commit.empty());
  CAF_CHECK(healed.conflicts.empty());
  CAF_CHECK_EQUAL(users(b), users(a));
  // Again, but a write landed on the old version meanwhile: it is merged, nothing lost.
  add_user(a, "a3", "from a");
  CAF_REQUIRE(breathe(*port_a, utc));
  port_b->fetch(net);
  must(git(b, "update-ref refs/heads/main origin/main"));
  add_user(b, "b1", "written on the old version");
  auto merged = port_b->exhale("[sync] merge", utc, sync_mode::follow);
  CAF_CHECK(merged.conflicts.empty()); // different keys: merged, no conflict
  CAF_CHECK(!merged.commit.empty());
  CAF_CHECK_EQUAL(user(b, "a3"), "from a");
  CAF_CHECK_EQUAL(user(b, "b1"), "written on the old version");
  CAF_CHECK(breathe(*port_b, utc));
  CAF_CHECK_EQUAL(origin_users(origin), users(b));
  check_settled(b);
}

CAF_TEST(commits of the git CLI arrive and commits of the port reach the CLI) {
  write_file(a / "docs/guide.md", "guide\n");
  add_user(a, "cli", "from the git CLI");
  must(git(a, "add -A") + " && " + git(a, "commit -q -m cli") + " && " +
       git(a, "push -q origin main"));
  auto port_b = port_on(b, "nodeb");
  add_user(b, "port", "from the port");
  CAF_REQUIRE(breathe(*port_b, utc));
  CAF_CHECK_EQUAL(read_file(b / "docs/guide.md"), "guide\n");
  CAF_CHECK_EQUAL(user(b, "cli"), "from the git CLI");
  must(git(a, "pull -q --rebase origin main"));
  CAF_CHECK_EQUAL(user(a, "port"), "from the port");
  CAF_CHECK_EQUAL(must(git_cli + "--git-dir " + origin.string() + " fsck --no-progress"), "");
  check_settled(a);
  check_settled(b);
}

CAF_TEST(a push refused as non fast forward succeeds after fetch and inhale) {
  auto [port_a, port_b] = diverge(*this, "2", "3");
  auto refused = port_b->push(net);
  CAF_CHECK(!refused.pushed);
  CAF_CHECK_EQUAL(refused.commits, 0u);
  CAF_CHECK_EQUAL(port_b->fetch(net), 1u);
  port_b->inhale(utc, sync_mode::follow);
  auto pushed = port_b->push(net);
  CAF_CHECK(pushed.pushed);
  CAF_CHECK_EQUAL(pushed.commits, 1u);
  CAF_CHECK_EQUAL(port_b->ahead(), 0u);
}

CAF_TEST(prepare repairs a rebase the git CLI left stopped on a conflict) {
  write_file(a / "data/users.json", "{\"1\": \"a\"}\n");
  must(git(a, "commit -q -am a") + " && " + git(a, "push -q origin main"));
  write_file(b / "data/users.json", "{\"1\": \"b\"}\n");
  must(git(b, "commit -q -am b") + " && " + git(b, "fetch -q origin"));
  CAF_REQUIRE_NOT_EQUAL(run(git(b, "rebase origin/main")).status, 0);
  auto port = std::make_unique<git_port>(breath_settings_for(b.string(), "nodeb"), "nodeb");
  CAF_CHECK_EQUAL(port->prepare(), "aborted an interrupted rebase");
  CAF_CHECK_EQUAL(port->prepare(), "");
  CAF_CHECK(breathe(*port, utc));
  CAF_CHECK_EQUAL(origin_users(origin), json::parse(R"({"1": "a"})"));
  CAF_CHECK_EQUAL(json::parse(read_file(b / conflict_copy_path("data/users.json", "nodeb", utc))),
                  json::parse(R"({"1": "b"})"));
  check_settled(b);
}

CAF_TEST(prepare keeps a synced file written while a rebase of the git CLI was stopped) {
  write_file(a / "node_crypto/nodes.json", "{\"mt1\": \"a\"}\n");
  add_user(a, "a1", "from a");
  must(git(a, "commit -q -am a") + " && " + git(a, "push -q origin main"));
  write_file(b / "node_crypto/nodes.json", "{\"mt1\": \"b\"}\n");
  must(git(b, "commit -q -am b") + " && " + git(b, "fetch -q origin"));
  CAF_REQUIRE_NOT_EQUAL(run(git(b, "rebase origin/main")).status, 0);
  CAF_REQUIRE_EQUAL(user(b, "a1"), "from a"); // the stopped rebase checked out a's version
  add_user(b, "bot", "written during the stopped rebase");
  auto port = std::make_unique<git_port>(breath_settings_for(b.string(), "nodeb"), "nodeb");
  CAF_CHECK_EQUAL(port->prepare(),
                  "aborted an interrupted rebase; kept the working copy of data/users.json");
  CAF_CHECK_EQUAL(user(b, "bot"), "written during the stopped rebase");
  CAF_CHECK(breathe(*port, utc));
  CAF_CHECK_EQUAL(origin_users(origin).value("bot", ""), "written during the stopped rebase");
  CAF_CHECK_EQUAL(origin_users(origin).value("a1", ""), "from a");
  check_settled(b);
}

CAF_TEST(prepare removes the locks and temporary files of an interrupted step) {
  auto port = port_on(b, "nodeb");
  add_user(b, "2", "pending");
  port.reset();
  // What a breath killed inside libgit2's index and ref updates leaves behind.
  write_file(b / ".git/montana/busy", "");
  write_file(b / ".git/index.lock", "half an index");
  write_file(b / ".git/refs/heads/main.lock", "");
  write_file(b / "data/.users.json.montana-tmp", "{\"half\": ");
  port = std::make_unique<git_port>(breath_settings_for(b.string(), "nodeb"), "nodeb");
  CAF_CHECK_EQUAL(port->prepare(), "removed 3 lock or temporary files of an interrupted step");
  CAF_CHECK(!fs::exists(b / ".git/index.lock") && !fs::exists(b / ".git/refs/heads/main.lock"));
  CAF_CHECK(!fs::exists(b / "data/.users.json.montana-tmp"));
  CAF_CHECK(breathe(*port, utc));
  CAF_CHECK_EQUAL(origin_users(origin).value("2", ""), "pending");
  CAF_CHECK(!fs::exists(b / ".git/montana/busy"));
  check_settled(b);
}

CAF_TEST(a writer holding the sync lock delays exhale and a second port is refused) {
  CAF_CHECK_EQUAL(sync_lock_path(a.string()), a.string() + "/.git/montana-sync.lock");
  git_port_options options;
  options.lock_wait = std::chrono::milliseconds{50};
  auto port = port_on(a, "nodea", options);
  add_user(a, "2", "locked");
  {
    sync_lock writer{sync_lock_path(a.string())};
    auto message = error_of([&] { port->exhale("[sync]", utc, sync_mode::follow); });
    CAF_CHECK_EQUAL(message, "git lock [" + sync_lock_path(a.string()) +
                                 "]: held by someone else for over 50 ms");
  }
  CAF_CHECK(!port->exhale("[sync]", utc, sync_mode::follow).commit.empty());
  git_port second{breath_settings_for(a.string(), "nodea"), "nodea"};
  CAF_CHECK_EQUAL(error_of([&] { second.prepare(); }),
                  "git prepare [" + a.string() +
                      "]: another breath port is using this clone (it holds " + a.string() +
                      "/.git/montana/port.lock)");
  port.reset();
  CAF_CHECK_EQUAL(second.prepare(), "");
}

CAF_TEST(steps report a missing repository a plain directory a corrupt HEAD and a dead remote) {
  auto prepare_error = [&](const fs::path& path) {
    git_port port{breath_settings_for(path.string(), "nodea"), "nodea"};
    return error_of([&] { port.prepare(); });
  };
  auto missing = dir / "missing";
  CAF_CHECK_EQUAL(prepare_error(missing),
                  "git open [" + missing.string() + "]: No such file or directory");
  fs::create_directories(dir / "plain");
  CAF_CHECK_EQUAL(
      prepare_error(dir / "plain").find("git open [" + (dir / "plain").string() + "]: "), 0u);
  git_port unprepared{breath_settings_for(a.string(), "nodea"), "nodea"};
  CAF_CHECK_EQUAL(error_of([&] { unprepared.exhale("m", utc, sync_mode::follow); }),
                  "git exhale [" + a.string() + "]: the clone is not open (prepare first)");
  write_file(b / ".git/HEAD", "ref: refs/hea");
  auto message = prepare_error(b);
  CAF_CHECK_EQUAL(message.find("git open [" + b.string() + "]: "), 0u);
  CAF_CHECK_EQUAL(message.find('\n'), std::string::npos);
  const auto gone = (dir / "gone.git").string();
  must(git(a, "remote set-url origin " + gone));
  auto port = port_on(a, "nodea");
  message = error_of([&] { port->fetch(net); });
  CAF_CHECK_EQUAL(message.find("git fetch origin main (" + gone + ") [" + a.string() + "]: "), 0u);
  CAF_MESSAGE("dead remote: " << message);
  add_user(a, "2", "x");
  port->exhale("[sync]", utc, sync_mode::follow);
  CAF_CHECK_EQUAL(error_of([&] {
                    port->push(net);
                  }).find("git push origin main (" + gone + ") [" + a.string() + "]: "),
                  0u);
  must(git(a, "checkout -q -b other"));
  CAF_CHECK_EQUAL(error_of([&] { port->prepare(); }),
                  "git prepare [" + a.string() +
                      "]: HEAD is on refs/heads/other, not refs/heads/main");
}

CAF_TEST(a remote that is a local path is warned about once) {
  montana::testing::log_capture log;
  git_port port{breath_settings_for(a.string(), "nodea"), "nodea"};
  port.prepare();
  port.prepare();
  auto warnings = log.lines("warning");
  CAF_REQUIRE_EQUAL(warnings.size(), 1u);
  CAF_CHECK(warnings[0].find("[nodea] breath: remote origin is a local path (" + origin.string() +
                             "): nodes pushing to it at the same moment can overwrite") !=
            std::string::npos);
  must(git(b, "remote set-url origin git://127.0.0.1:9/origin.git"));
  git_port served{breath_settings_for(b.string(), "nodeb"), "nodeb"};
  served.prepare();
  CAF_CHECK_EQUAL(log.lines("warning").size(), 1u);
}

// --- Never a broken file -----------------------------------------------------------------

CAF_TEST(a synced file caught mid write is waited for and committed once it parses) {
  auto port = port_on(a, "nodea");
  const auto whole = R"({"1": {"first_name": "ann"}, "2": "written slowly"})"
                     "\n";
  write_file(a / "data/users.json", std::string{whole}.substr(0, 20));
  std::thread writer{[&] {
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    write_file(a / "data/users.json", whole);
  }};
  auto result = port->exhale("[sync]", utc, sync_mode::follow);
  writer.join();
  CAF_CHECK(result.broken.empty());
  CAF_REQUIRE(!result.commit.empty());
  CAF_CHECK_EQUAL(must(git(a, "show HEAD:data/users.json")), whole);
}

CAF_TEST(a synced file that stays broken is never committed and is put back without a duty) {
  auto settings = breath_settings_for(a.string(), "nodea");
  settings.broken_wait = std::chrono::milliseconds{200};
  git_port port{settings, "nodea"};
  port.prepare();
  const auto good = read_file(a / "data/users.json");
  const auto before = head(a);
  write_file(a / "data/users.json", "{\"1\": {\"first_na");
  auto result = port.exhale("[sync]", utc, sync_mode::follow);
  CAF_CHECK_EQUAL(result.broken, std::vector<std::string>{"data/users.json"});
  CAF_CHECK_EQUAL(result.restored, std::vector<std::string>{"data/users.json"});
  CAF_CHECK(result.commit.empty());
  CAF_CHECK_EQUAL(head(a), before);
  CAF_CHECK_EQUAL(read_file(a / "data/users.json"), good);
  auto aside = a / ("data/users.json.broken-nodea-" + utc);
  CAF_CHECK_EQUAL(read_file(aside), "{\"1\": {\"first_na");
  // The copy aside is never committed.
  CAF_CHECK(breathe(port, utc));
  CAF_CHECK_EQUAL(must(git(a, "ls-tree -r --name-only HEAD")).find(".broken-"), std::string::npos);
}

CAF_TEST(a broken file a running duty holds is left to it and not committed) {
  auto settings = breath_settings_for(a.string(), "nodea");
  settings.broken_wait = std::chrono::milliseconds{100};
  git_port port{settings, "nodea"};
  port.prepare();
  const auto before = head(a);
  write_file(a / "data/users.json", "{\"1\": ");
  auto result = port.exhale("[sync]", utc, sync_mode::hold);
  CAF_CHECK_EQUAL(result.broken, std::vector<std::string>{"data/users.json"});
  CAF_CHECK(result.restored.empty());
  CAF_CHECK_EQUAL(read_file(a / "data/users.json"), "{\"1\": ");
  CAF_CHECK_EQUAL(head(a), before);
}

CAF_TEST(a broken version on the remote is never written into a working file and gets repaired) {
  auto port_b = port_on(b, "nodeb");
  write_file(a / "data/users.json", "{\"1\": {\"first_name\": \"ann\"}, \"2\":");
  must(git(a, "commit -q -am broken") + " && " + git(a, "push -q origin main"));
  CAF_CHECK_EQUAL(port_b->fetch(net), 1u);
  auto inhaled = port_b->inhale(utc, sync_mode::follow);
  CAF_CHECK(lists(inhaled.broken, "data/users.json (theirs)"));
  CAF_CHECK_EQUAL(users(b), json::parse(R"({"1": {"first_name": "ann"}})"));
  // The next breath commits the good version over the broken one.
  CAF_CHECK(breathe(*port_b, utc));
  CAF_CHECK_EQUAL(origin_users(origin), json::parse(R"({"1": {"first_name": "ann"}})"));
}

// --- One writer ------------------------------------------------------------------------

CAF_TEST(while a duty holds the files inhale never writes them and others changes survive) {
  auto port_a = port_on(a, "nodea");
  auto port_b = port_on(b, "nodeb");
  // b's duty writes; meanwhile someone else adds "h" through a.
  add_user(a, "h", "by hand");
  CAF_REQUIRE(breathe(*port_a, utc));
  add_user(b, "x", "bot 1");
  auto bot_file = read_file(b / "data/users.json");
  port_b->exhale("[sync] b", utc, sync_mode::hold);
  port_b->fetch(net);
  auto inhaled = port_b->inhale(utc, sync_mode::hold);
  CAF_CHECK(!lists(inhaled.updated, "data/users.json"));
  CAF_CHECK_EQUAL(read_file(b / "data/users.json"), bot_file); // untouched under the duty
  CAF_REQUIRE(port_b->push(net).pushed);
  CAF_CHECK_EQUAL(origin_users(origin).value("h", ""), "by hand");
  CAF_CHECK_EQUAL(origin_users(origin).value("x", ""), "bot 1");
  // The duty writes again from what it has (no "h"): "h" is not reverted.
  add_user(b, "y", "bot 2");
  port_b->exhale("[sync] b2", utc, sync_mode::hold);
  port_b->fetch(net);
  port_b->inhale(utc, sync_mode::hold);
  CAF_REQUIRE(port_b->push(net).pushed);
  auto remote = origin_users(origin);
  CAF_CHECK_EQUAL(remote.value("h", ""), "by hand");
  CAF_CHECK_EQUAL(remote.value("x", ""), "bot 1");
  CAF_CHECK_EQUAL(remote.value("y", ""), "bot 2");
  CAF_CHECK(!users(b).contains("h"));
  // The next start of the duty (a breath without it) brings the working file up to the remote.
  port_b->exhale("[sync]", utc, sync_mode::follow);
  port_b->fetch(net);
  port_b->inhale(utc, sync_mode::follow);
  CAF_CHECK_EQUAL(users(b), remote);
  check_settled(b);
}

CAF_TEST(the value of the holder wins a key both changed and the other goes to the copy) {
  auto port_a = port_on(a, "nodea");
  auto port_b = port_on(b, "nodeb");
  add_user(a, "1", "by hand");
  CAF_REQUIRE(breathe(*port_a, utc));
  add_user(b, "1", "by the bot");
  auto exhaled = port_b->exhale("[sync] b", utc, sync_mode::hold);
  port_b->fetch(net);
  auto inhaled = port_b->inhale(utc, sync_mode::hold);
  CAF_CHECK_EQUAL(inhaled.conflicts, std::vector<std::string>{"data/users.json"});
  CAF_REQUIRE(port_b->push(net).pushed);
  CAF_CHECK_EQUAL(origin_users(origin).value("1", ""), "by the bot");
  CAF_REQUIRE_EQUAL(inhaled.copies.size(), 1u);
  auto copy = json::parse(
      must(git_cli + "--git-dir " + origin.string() + " show main:" + inhaled.copies[0]));
  CAF_CHECK_EQUAL(copy.value("1", ""), "by hand");
}

// --- Cost grows with what changed -------------------------------------------------------

CAF_TEST(a synced file unchanged since it was read is not read again) {
  auto port = port_on(a, "nodea");
  add_user(a, "2", "x");
  std::this_thread::sleep_for(std::chrono::milliseconds{50}); // older than the racy window
  auto first = port->exhale("[sync]", utc, sync_mode::follow);
  CAF_CHECK_EQUAL(first.files_read, 2u);
  auto second = port->exhale("[sync]", utc, sync_mode::follow);
  CAF_CHECK_EQUAL(second.files_read, 0u);
  add_user(a, "3", "y");
  auto third = port->exhale("[sync]", utc, sync_mode::follow);
  CAF_CHECK_EQUAL(third.files_read, 1u);
  CAF_CHECK(!third.commit.empty());
}

// --- A hung remote costs one breath -------------------------------------------------------

CAF_TEST(a fetch from a remote that accepts and never answers ends at its limit) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CAF_REQUIRE_EQUAL(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  CAF_REQUIRE_EQUAL(::listen(listener, 8), 0);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  must(git(a, "remote set-url origin git://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) +
                  "/origin.git"));
  auto port = port_on(a, "nodea");
  auto started = std::chrono::steady_clock::now();
  auto message = error_of([&] { port->fetch(std::chrono::milliseconds{500}); });
  auto took = std::chrono::steady_clock::now() - started;
  CAF_MESSAGE("hung fetch: " << message);
  CAF_CHECK_NOT_EQUAL(message.find("no answer within 500 ms"), std::string::npos);
  CAF_CHECK(took < std::chrono::seconds{5});
  CAF_CHECK(!fs::exists(a / ".git/FETCH_HEAD.lock"));
  // Interrupted from another thread: it ends at once.
  std::thread stopper{[&] {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    port->interrupt();
  }};
  started = std::chrono::steady_clock::now();
  message = error_of([&] { port->fetch(std::chrono::seconds{60}); });
  took = std::chrono::steady_clock::now() - started;
  stopper.join();
  CAF_CHECK_NOT_EQUAL(message.find("interrupted"), std::string::npos);
  CAF_CHECK(took < std::chrono::seconds{5});
  ::close(listener);
}

CAF_TEST_FIXTURE_SCOPE_END()
