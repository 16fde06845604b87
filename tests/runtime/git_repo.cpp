#define CAF_SUITE runtime.git_repo
#include "caf/test/dsl.hpp"

#include "runtime/git_repo.hpp"
#include "support/git_fixture.hpp"

#include <git2.h>
#include <nlohmann/json.hpp>

using namespace montana;
using namespace montana::testing;

namespace {

const std::string node = "nodeb";
const std::string utc = "20260101T000000Z";

/// HEAD of `clone` without the newline.
std::string tip_of(const fs::path& clone) {
  auto id = head(clone);
  return id.substr(0, id.size() - 1);
}

/// Commits `text` as data/users.json on top of the branch and moves the branch, like exhale.
std::string commit_users(git_repo& repo, const std::string& text) {
  auto parent = repo.tip("refs/heads/main");
  auto id = repo.commit(parent, {{"data/users.json", file_entry{repo.write_blob(text)}}},
                        "[sync] test", "node", "node@montana");
  if (!id || !repo.move_branch("refs/heads/main", *id, parent, "test"))
    CAF_FAIL("commit_users failed");
  return *id;
}

/// Clone `a` changes data/users.json to `remote` and pushes; clone `b` commits `local` to it
/// with the git CLI and fetches. Returns b's local commit.
std::string diverge(git_fixture& f, const std::string& remote, const std::string& local) {
  write_file(f.a / "data/users.json", remote);
  must(git(f.a, "commit -q -am remote") + " && " + git(f.a, "push -q origin main"));
  write_file(f.b / "data/users.json", local);
  must(git(f.b, "commit -q -am local") + " && " + git(f.b, "fetch -q origin"));
  return tip_of(f.b);
}

/// In-memory replay of b's main on origin/main.
rebase_result rebase_b(git_repo& repo, const resolver& resolve = merge_synced_file) {
  return repo.rebase(*repo.tip("refs/heads/main"), *repo.tip("refs/remotes/origin/main"), node, utc,
                     resolve);
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(git_repo_tests, git_fixture)

CAF_TEST(commit builds a tree from the given contents and leaves index and refs alone) {
  write_file(a / "data/users.json", "{\"working\": \"file, not committed\"}\n");
  write_file(a / "staged.txt", "staged\n");
  must(git(a, "add staged.txt"));
  auto repo = git_repo::open(a.string());
  auto before = tip_of(a);
  auto blob = repo.write_blob("{\"1\": {\"first_name\": \"bob\"}}\n");
  CAF_CHECK_EQUAL(blob, git_repo::blob_id("{\"1\": {\"first_name\": \"bob\"}}\n"));
  auto id = repo.commit(before, {{"data/users.json", file_entry{blob}}}, "[sync] breathing test",
                        "node", "node@montana");
  CAF_REQUIRE(id.has_value());
  CAF_CHECK_EQUAL(tip_of(a), before);
  CAF_CHECK_EQUAL(must(git(a, "show --name-status --format= " + *id)), "M\tdata/users.json\n");
  CAF_CHECK_EQUAL(must(git(a, "log -1 --format=%an/%ae/%s " + *id)),
                  "node/node@montana/[sync] breathing test\n");
  CAF_CHECK_EQUAL(must(git(a, "show " + *id + ":data/users.json")),
                  "{\"1\": {\"first_name\": \"bob\"}}\n");
  CAF_CHECK_EQUAL(must(git(a, "status --porcelain")), " M data/users.json\nA  staged.txt\n");
  CAF_CHECK(repo.move_branch("refs/heads/main", *id, before, "test"));
  CAF_CHECK_EQUAL(tip_of(a), *id);
  CAF_CHECK(repo.file_at(*id, "data/users.json") == file_entry{blob});
  CAF_CHECK(!repo.file_at(*id, "missing.txt"));
  CAF_CHECK(!repo.file_at(*id, "data"));
  CAF_CHECK_EQUAL(repo.changed_paths(before, *id), std::vector<std::string>{"data/users.json"});
}

CAF_TEST(commit returns nullopt without a change and commits deletions) {
  auto repo = git_repo::open(a.string());
  auto before = tip_of(a);
  auto same = repo.write_blob("{}\n");
  CAF_CHECK(!repo.commit(before, {{"node_crypto/nodes.json", file_entry{same}}}, "m", "n", "e"));
  auto id = repo.commit(before, {{"node_crypto/nodes.json", std::nullopt}}, "m", "n", "e");
  CAF_REQUIRE(id.has_value());
  CAF_CHECK_EQUAL(must(git(a, "show --name-status --format= " + *id)),
                  "D\tnode_crypto/nodes.json\n");
  for (std::string bad : {"../x", "/etc/passwd", ".git/config", "data/../README.md", "", "a\nb"})
    CAF_CHECK_EQUAL(error_of([&] {
                      repo.commit(before, {{bad, file_entry{same}}}, "m", "n", "e");
                    }).find("git commit [" + a.string() + "]: "),
                    0u);
}

CAF_TEST(move_branch is a compare and swap) {
  auto repo = git_repo::open(a.string());
  auto first = tip_of(a);
  auto second = commit_users(repo, "{\"2\": {}}\n");
  CAF_CHECK(!repo.move_branch("refs/heads/main", first, first, "stale expectation"));
  CAF_CHECK_EQUAL(tip_of(a), second);
  CAF_CHECK(!repo.move_branch("refs/heads/main", first, std::nullopt, "expects no branch"));
  CAF_CHECK(repo.move_branch("refs/heads/other", first, std::nullopt, "new branch"));
  CAF_CHECK(repo.tip("refs/heads/other") == first);
  CAF_CHECK(!repo.tip("refs/heads/missing"));
}

CAF_TEST(restage moves unstaged entries and keeps staged ones) {
  auto repo = git_repo::open(a.string());
  auto old_readme = repo.file_at(tip_of(a), "README.md");
  write_file(a / "data/users.json", "{\"staged\": 1}\n");
  must(git(a, "add data/users.json"));
  auto committed = repo.file_at(tip_of(a), "data/users.json"); // not what the index has
  file_entry fresh{repo.write_blob("fresh\n")};
  repo.restage({{"README.md", {old_readme}, fresh},
                {"data/users.json", {committed}, fresh},
                {"node_crypto/nodes.json", {}, std::nullopt},
                {"new.txt", {std::nullopt}, fresh}});
  CAF_CHECK_EQUAL(must(git(a, "ls-files -s README.md new.txt")),
                  "100644 " + fresh.id + " 0\tREADME.md\n100644 " + fresh.id + " 0\tnew.txt\n");
  CAF_CHECK_EQUAL(must(git(a, "show :data/users.json")), "{\"staged\": 1}\n");
  CAF_CHECK_EQUAL(must(git(a, "ls-files node_crypto")), "");
  // Entries without stat data: git compares content, so an equal working file is clean.
  write_file(a / "README.md", "fresh\n");
  CAF_CHECK_EQUAL(run(git(a, "diff --quiet -- README.md")).status, 0);
}

CAF_TEST(free_path numbers a conflict copy until it is free in the tree and on disk) {
  auto repo = git_repo::open(a.string());
  CAF_CHECK_EQUAL(repo.free_path("data/x.json", tip_of(a)), "data/x.json");
  CAF_CHECK_EQUAL(repo.free_path("data/users.json", tip_of(a)), "data/users-2.json");
  write_file(a / "data/users-2.json", "untracked\n");
  CAF_CHECK_EQUAL(repo.free_path("data/users.json", tip_of(a)), "data/users-3.json");
  CAF_CHECK_EQUAL(repo.free_path("README", std::nullopt), "README");
}

CAF_TEST(push succeeds and a diverged push is refused as non fast forward) {
  auto repo_a = git_repo::open(a.string());
  auto repo_b = git_repo::open(b.string());
  commit_users(repo_a, "{\"1\": {}, \"2\": {}}\n");
  CAF_CHECK(repo_a.push("origin", "main"));
  CAF_CHECK_EQUAL(must(git_cli + "--git-dir " + origin.string() + " rev-parse main"), head(a));
  CAF_CHECK_EQUAL(repo_a.ahead("origin", "main"), 0u);
  commit_users(repo_b, "{\"b\": {}}\n");
  CAF_CHECK(!repo_b.push("origin", "main"));
  CAF_CHECK_EQUAL(must(git_cli + "--git-dir " + origin.string() + " rev-parse main"), head(a));
  CAF_CHECK_EQUAL(must(git_cli + "--git-dir " + origin.string() + " fsck --no-progress"), "");
}

CAF_TEST(fetch updates the remote tracking branch for ahead and behind) {
  auto repo_a = git_repo::open(a.string());
  auto repo_b = git_repo::open(b.string());
  commit_users(repo_a, "{\"from_a\": {}}\n");
  CAF_REQUIRE(repo_a.push("origin", "main"));
  commit_users(repo_b, "{\"from_b\": 1}\n");
  commit_users(repo_b, "{\"from_b\": 2}\n");
  CAF_CHECK_EQUAL(repo_b.ahead("origin", "main"), 2u);
  CAF_CHECK_EQUAL(repo_b.behind("origin", "main"), 0u);
  repo_b.fetch("origin", "main");
  CAF_CHECK_EQUAL(repo_b.ahead("origin", "main"), 2u);
  CAF_CHECK_EQUAL(repo_b.behind("origin", "main"), 1u);
  CAF_CHECK_EQUAL(must(git(b, "rev-parse origin/main")), head(a));
  CAF_CHECK_EQUAL(error_of([&] { repo_b.fetch("nowhere", "main"); }).find("git fetch"), 0u);
}

CAF_TEST(repair aborts a rebase stopped on a conflict) {
  write_file(a / "data/users.json", "{\"1\": \"a\"}\n");
  must(git(a, "commit -q -am a") + " && " + git(a, "push -q origin main"));
  write_file(b / "data/users.json", "{\"1\": \"b\"}\n");
  write_file(b / "untracked.txt", "stays\n");
  must(git(b, "commit -q -am b") + " && " + git(b, "fetch -q origin"));
  auto ours = head(b);
  CAF_REQUIRE_NOT_EQUAL(run(git(b, "rebase origin/main")).status, 0);
  CAF_REQUIRE(run(git(b, "status")).out.find("rebase") != std::string::npos);
  auto repo = git_repo::open(b.string());
  CAF_CHECK_EQUAL(error_of([&] { repo.head_branch(); }).find("git check HEAD"), 0u);
  CAF_CHECK_EQUAL(repo.repair(), "aborted an interrupted rebase");
  CAF_CHECK_EQUAL(repo.head_branch(), "refs/heads/main");
  CAF_CHECK_EQUAL(head(b), ours);
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "?? untracked.txt\n");
  check_settled(b);
  CAF_CHECK_EQUAL(repo.repair(), "");
}

CAF_TEST(repair aborts a libgit2 rebase left mid way) {
  write_file(a / "data/users.json", "{\"1\": \"a\"}\n");
  must(git(a, "commit -q -am a") + " && " + git(a, "push -q origin main"));
  write_file(b / "data/users.json", "{\"1\": \"b\"}\n");
  must(git(b, "commit -q -am b") + " && " + git(b, "fetch -q origin"));
  auto ours = head(b);
  auto repo = git_repo::open(b.string());
  { // An on-disk rebase that crashed: started, stopped on the conflict, never ended.
    git_repository* raw = nullptr;
    CAF_REQUIRE_EQUAL(git_repository_open(&raw, b.string().c_str()), 0);
    git_reference* upstream_ref = nullptr;
    git_annotated_commit* upstream = nullptr;
    git_rebase* rebase = nullptr;
    git_rebase_operation* step = nullptr;
    CAF_REQUIRE_EQUAL(git_reference_lookup(&upstream_ref, raw, "refs/remotes/origin/main"), 0);
    CAF_REQUIRE_EQUAL(git_annotated_commit_from_ref(&upstream, raw, upstream_ref), 0);
    CAF_REQUIRE_EQUAL(git_rebase_init(&rebase, raw, nullptr, upstream, nullptr, nullptr), 0);
    CAF_CHECK_EQUAL(git_rebase_next(&step, rebase), 0);
    git_rebase_free(rebase);
    git_annotated_commit_free(upstream);
    git_reference_free(upstream_ref);
    git_repository_free(raw);
  }
  CAF_REQUIRE(run(git(b, "status")).out.find("rebase") != std::string::npos);
  CAF_CHECK_EQUAL(repo.repair(), "aborted an interrupted rebase");
  CAF_CHECK_EQUAL(head(b), ours);
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "");
  check_settled(b);
}

CAF_TEST(repair aborts a merge stopped on a conflict and keeps unrelated changes) {
  write_file(a / "data/users.json", "{\"1\": \"a\"}\n");
  must(git(a, "commit -q -am a") + " && " + git(a, "push -q origin main"));
  write_file(b / "data/users.json", "{\"1\": \"b\"}\n");
  must(git(b, "commit -q -am b") + " && " + git(b, "fetch -q origin"));
  auto ours = head(b);
  write_file(b / "README.md", "local edit\n");
  CAF_REQUIRE_NOT_EQUAL(run(git(b, "merge origin/main")).status, 0);
  auto repo = git_repo::open(b.string());
  CAF_CHECK_EQUAL(repo.repair(), "aborted an interrupted merge");
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), " M README.md\n");
  CAF_CHECK_EQUAL(head(b), ours);
  CAF_CHECK(!fs::exists(b / ".git/MERGE_HEAD"));
  CAF_CHECK_EQUAL(must(git(b, "show HEAD:data/users.json")), read_file(b / "data/users.json"));
}

CAF_TEST(open reports a missing or corrupt repository in one line) {
  auto missing = (dir / "missing").string();
  auto message = error_of([&] { git_repo::open(missing); });
  CAF_CHECK_EQUAL(message.find("git open [" + missing + "]: "), 0u);
  CAF_CHECK_EQUAL(message.find('\n'), std::string::npos);
  auto plain = dir / "plain";
  fs::create_directories(plain);
  message = error_of([&] { git_repo::open(plain.string()); });
  CAF_CHECK_EQUAL(message.find("git open [" + plain.string() + "]: "), 0u);
  for (std::string truncated : {"", "ref: refs/hea"}) {
    write_file(a / ".git/HEAD", truncated);
    message = error_of([&] { git_repo::open(a.string()); });
    CAF_CHECK_EQUAL(message.find("git open [" + a.string() + "]: "), 0u);
    CAF_CHECK_EQUAL(message.find('\n'), std::string::npos);
    CAF_MESSAGE("HEAD '" << truncated << "': " << message);
  }
  fs::resize_file(b / ".git/index", 10);
  message = error_of([&] { git_repo::open(b.string()); });
  CAF_CHECK_EQUAL(message.find("git open [" + b.string() + "]: "), 0u);
  CAF_MESSAGE("corrupt index: " << message);
}

CAF_TEST(rebase returns the remote tip when there is nothing to replay) {
  auto repo_b = git_repo::open(b.string());
  auto before = tip_of(b);
  auto nothing = rebase_b(repo_b);
  CAF_CHECK_EQUAL(nothing.tip, before);
  CAF_CHECK_EQUAL(nothing.replayed, 0u);
  write_file(a / "node_crypto/nodes.json", "{\"mta\": {}}\n");
  must(git(a, "commit -q -am remote") + " && " + git(a, "push -q origin main"));
  repo_b.fetch("origin", "main");
  auto caught_up = rebase_b(repo_b);
  CAF_CHECK_EQUAL(caught_up.tip, tip_of(a));
  CAF_CHECK_EQUAL(caught_up.replayed, 0u);
  CAF_CHECK_EQUAL(tip_of(b), before); // rebase moves no ref
}

CAF_TEST(rebase in memory replays a local commit without touching the clone) {
  write_file(a / "node_crypto/nodes.json", "{\"mta\": {}}\n");
  must(git(a, "commit -q -am remote") + " && " + git(a, "push -q origin main"));
  auto repo_b = git_repo::open(b.string());
  auto local = commit_users(repo_b, "{\"1\": {\"first_name\": \"bob\"}}\n");
  write_file(b / "data/users.json", "{\"1\": {\"first_name\": \"bob\"}}\n");
  write_file(b / "README.md", "dirty, which an on-disk rebase refuses\n");
  write_file(b / "untracked.txt", "stays\n");
  repo_b.fetch("origin", "main");
  auto status_before = must(git(b, "status --porcelain"));
  auto result = rebase_b(repo_b);
  CAF_CHECK_EQUAL(result.replayed, 1u);
  CAF_CHECK(result.conflicts.empty() && result.copies.empty());
  CAF_CHECK_EQUAL(must(git(b, "rev-parse " + result.tip + "~1")), head(a));
  CAF_CHECK_EQUAL(must(git(b, "log -1 --format=%an/%s " + result.tip)), "node/[sync] test\n");
  CAF_CHECK_EQUAL(must(git(b, "show " + result.tip + ":node_crypto/nodes.json")),
                  "{\"mta\": {}}\n");
  CAF_CHECK_EQUAL(tip_of(b), local);
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), status_before);
  check_settled(b);
}

CAF_TEST(rebase merges edits of different keys by the rule even when git merged the text) {
  // Keys far apart, where a text merge would succeed: the synced file goes through the rule.
  std::string base = "{\n\"1\": \"ann\",\n\"x\": 0,\n\"y\": 0,\n\"z\": 0,\n\"2\": \"bob\"\n}\n";
  write_file(a / "data/users.json", base);
  must(git(a, "commit -q -am base") + " && " + git(a, "push -q origin main"));
  must(git(b, "fetch -q origin") + " && " + git(b, "merge -q --ff-only origin/main"));
  auto theirs = base;
  theirs.replace(theirs.find("ann"), 3, "ANN");
  auto ours = base;
  ours.replace(ours.find("bob"), 3, "BOB");
  diverge(*this, theirs, ours);
  auto repo_b = git_repo::open(b.string());
  int resolved = 0;
  auto result = rebase_b(repo_b, [&](const merge_input& in) {
    ++resolved;
    return merge_synced_file(in);
  });
  CAF_CHECK_EQUAL(resolved, 1);
  CAF_CHECK_EQUAL(result.replayed, 1u);
  CAF_CHECK(result.conflicts.empty()); // merged by key: no conflict to report
  CAF_CHECK(result.copies.empty());
  CAF_CHECK_EQUAL(nlohmann::json::parse(must(git(b, "show " + result.tip + ":data/users.json"))),
                  nlohmann::json::parse(R"({"1": "ANN", "x": 0, "y": 0, "z": 0, "2": "BOB"})"));
  CAF_CHECK_EQUAL(must(git(b, "rev-parse " + result.tip + "~1")), head(a));
}

CAF_TEST(rebase keeps the remote value of a key edited on both sides and commits ours in a copy) {
  diverge(*this, "{\"1\": {\"first_name\": \"remote\"}}\n",
          "{\"1\": {\"first_name\": \"local\"}}\n");
  auto repo_b = git_repo::open(b.string());
  std::vector<merge_input> seen;
  auto result = rebase_b(repo_b, [&](const merge_input& in) {
    seen.push_back(in);
    return merge_synced_file(in);
  });
  CAF_REQUIRE_EQUAL(seen.size(), 1u);
  CAF_CHECK_EQUAL(seen[0].path, "data/users.json");
  CAF_CHECK(seen[0].base && seen[0].base->find("ann") != std::string::npos);
  CAF_CHECK(seen[0].ours && seen[0].ours->find("local") != std::string::npos);
  CAF_CHECK(seen[0].theirs && seen[0].theirs->find("remote") != std::string::npos);
  CAF_CHECK_EQUAL(seen[0].node, node);
  CAF_CHECK_EQUAL(seen[0].utc, utc);
  const auto copy = conflict_copy_path("data/users.json", node, utc);
  CAF_CHECK_EQUAL(result.replayed, 1u);
  CAF_CHECK_EQUAL(result.conflicts, std::vector<std::string>{"data/users.json"});
  CAF_CHECK_EQUAL(result.copies, std::vector<std::string>{copy});
  CAF_CHECK_EQUAL(nlohmann::json::parse(must(git(b, "show " + result.tip + ":data/users.json"))),
                  nlohmann::json::parse(R"({"1": {"first_name": "remote"}})"));
  CAF_CHECK_EQUAL(nlohmann::json::parse(must(git(b, "show " + result.tip + ":" + copy))),
                  nlohmann::json::parse(R"({"1": {"first_name": "local"}})"));
  CAF_CHECK(!fs::exists(b / copy)); // in memory only
  check_settled(b);
}

CAF_TEST(rebase fails cleanly when the resolver throws) {
  auto ours = diverge(*this, "{\"1\": \"remote\"}\n", "{\"1\": \"local\"}\n");
  auto repo_b = git_repo::open(b.string());
  auto message = error_of([&] {
    rebase_b(repo_b, [](const merge_input&) -> merge_result { throw std::runtime_error{"boom"}; });
  });
  CAF_CHECK_EQUAL(message, "git rebase data/users.json [" + b.string() + "]: boom");
  CAF_CHECK_EQUAL(tip_of(b), ours);
  CAF_CHECK_EQUAL(read_file(b / "data/users.json"), "{\"1\": \"local\"}\n");
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "");
  check_settled(b);
  CAF_CHECK_EQUAL(rebase_b(repo_b).copies.size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
