#define CAF_SUITE runtime.git_repo
#include "caf/test/dsl.hpp"

#include "runtime/git_repo.hpp"

#include <git2.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>

using namespace montana;
namespace fs = std::filesystem;

namespace {

/// The git CLI with a fixed identity and branch name, independent of the user's config.
const std::string git_cli = "GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git -c user.name=t "
                            "-c user.email=t@x -c init.defaultBranch=main ";

/// Output and exit status of a shell command (stderr folded into the output).
struct run_result {
  std::string out;
  int status = -1;
};

run_result run(const std::string& command) {
  run_result result;
  auto* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe)
    return result;
  std::array<char, 4096> buffer;
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  auto status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream{path} << text;
}

/// A bare `origin` with one commit on main and two clones `a` and `b` in a fresh temp dir.
struct fixture {
  fs::path dir;
  fs::path origin;
  fs::path a;
  fs::path b;

  fixture() {
    std::string pattern = (fs::temp_directory_path() / "montana-git-XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
    origin = dir / "origin.git";
    a = dir / "a";
    b = dir / "b";
    must(git_cli + "init -q --bare " + origin.string());
    must(git_cli + "clone -q " + origin.string() + " " + a.string());
    write_file(a / "data/users.json", "{\"1\": {\"first_name\": \"ann\"}}\n");
    write_file(a / "node_crypto/nodes.json", "{}\n");
    write_file(a / "README.md", "readme\n");
    must(git(a, "add -A") + " && " + git(a, "commit -q -m init") + " && " +
         git(a, "push -q origin main"));
    must(git_cli + "clone -q " + origin.string() + " " + b.string());
  }

  ~fixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  /// A git CLI command line run inside `clone`.
  static std::string git(const fs::path& clone, const std::string& args) {
    return git_cli + "-C " + clone.string() + " " + args;
  }

  /// Runs a setup command that has to succeed.
  static std::string must(const std::string& command) {
    auto result = run(command);
    if (result.status != 0)
      CAF_FAIL("setup failed: " << command << "\n" << result.out);
    return result.out;
  }

  static std::string head(const fs::path& clone) { return must(git(clone, "rev-parse HEAD")); }
};

const std::vector<std::string> synced = {"data/users.json", "node_crypto/nodes.json"};

std::optional<std::string> breathe_commit(git_repo& repo) {
  return repo.commit_paths(synced, "[sync] breathing test", "node", "node@montana");
}

/// The message of a `git_failure` thrown by `f`, or empty when nothing was thrown.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const montana::git_failure& e) {
    return e.what();
  }
  return {};
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

const std::string node = "nodeb";
const std::string utc = "20260101T000000Z";

/// Clone `a` changes data/users.json to `remote` and pushes; clone `b` commits `local` to it
/// with the git CLI and fetches. Returns b's local commit.
std::string diverge(fixture& f, const std::string& remote, const std::string& local) {
  write_file(f.a / "data/users.json", remote);
  fixture::must(fixture::git(f.a, "commit -q -am remote") + " && " +
                fixture::git(f.a, "push -q origin main"));
  write_file(f.b / "data/users.json", local);
  fixture::must(fixture::git(f.b, "commit -q -am local") + " && " +
                fixture::git(f.b, "fetch -q origin"));
  return fixture::head(f.b);
}

/// The clone is on main, not mid-rebase, with no conflicts left and a clean object store.
void check_settled(const fs::path& clone) {
  CAF_CHECK_EQUAL(run(fixture::git(clone, "status")).out.find("rebase"), std::string::npos);
  CAF_CHECK(!fs::exists(clone / ".git/rebase-merge") && !fs::exists(clone / ".git/rebase-apply"));
  CAF_CHECK_EQUAL(fixture::must(fixture::git(clone, "symbolic-ref HEAD")), "refs/heads/main\n");
  CAF_CHECK_EQUAL(fixture::must(fixture::git(clone, "diff --name-only --diff-filter=U")), "");
  CAF_CHECK_EQUAL(run(fixture::git(clone, "fsck --no-progress")).status, 0);
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(git_repo_tests, fixture)

CAF_TEST(commit_paths commits only the listed paths) {
  write_file(a / "data/users.json", "{\"1\": {\"first_name\": \"bob\"}}\n");
  write_file(a / "README.md", "edited, not for sync\n");
  write_file(a / "staged.txt", "staged\n");
  must(git(a, "add staged.txt"));
  write_file(a / "untracked.txt", "untracked\n");
  auto repo = git_repo::open(a.string());
  auto id = breathe_commit(repo);
  CAF_REQUIRE(id.has_value());
  CAF_CHECK_EQUAL(*id + "\n", head(a));
  CAF_CHECK_EQUAL(must(git(a, "show --name-status --format= HEAD")), "M\tdata/users.json\n");
  CAF_CHECK_EQUAL(must(git(a, "log -1 --format=%an/%ae/%s")),
                  "node/node@montana/[sync] breathing test\n");
  CAF_CHECK_EQUAL(must(git(a, "status --porcelain")),
                  " M README.md\nA  staged.txt\n?? untracked.txt\n");
  CAF_CHECK_EQUAL(must(git(a, "show HEAD:data/users.json")),
                  "{\"1\": {\"first_name\": \"bob\"}}\n");
}

CAF_TEST(commit_paths without a change returns nullopt) {
  write_file(a / "README.md", "edited, not for sync\n");
  auto repo = git_repo::open(a.string());
  auto before = head(a);
  CAF_CHECK(!breathe_commit(repo).has_value());
  write_file(a / "node_crypto/nodes.json", "{\"mt1\": {}}\n");
  CAF_CHECK(breathe_commit(repo).has_value());
  CAF_CHECK(!breathe_commit(repo).has_value());
  CAF_CHECK_EQUAL(must(git(a, "rev-list --count HEAD")), "2\n");
  CAF_CHECK_NOT_EQUAL(head(a), before);
}

CAF_TEST(commit_paths commits a deleted path as a deletion) {
  fs::remove(a / "node_crypto/nodes.json");
  auto repo = git_repo::open(a.string());
  CAF_REQUIRE(breathe_commit(repo).has_value());
  CAF_CHECK_EQUAL(must(git(a, "show --name-status --format= HEAD")), "D\tnode_crypto/nodes.json\n");
  CAF_CHECK_EQUAL(must(git(a, "status --porcelain")), "");
  CAF_CHECK(!breathe_commit(repo).has_value());
}

CAF_TEST(commit_paths refuses paths outside the working tree) {
  auto repo = git_repo::open(a.string());
  for (std::string bad : {"../x", "/etc/passwd", ".git/config", "data/../README.md", ""})
    CAF_CHECK_NOT_EQUAL(error_of([&] { repo.commit_paths({bad}, "m", "n", "e"); }), "");
}

CAF_TEST(push succeeds and a diverged push is refused as non fast forward) {
  auto repo_a = git_repo::open(a.string());
  auto repo_b = git_repo::open(b.string());
  write_file(a / "data/users.json", "{\"1\": {}, \"2\": {}}\n");
  CAF_REQUIRE(breathe_commit(repo_a).has_value());
  CAF_CHECK(repo_a.push("origin", "main"));
  CAF_CHECK_EQUAL(must(git_cli + "--git-dir " + origin.string() + " rev-parse main"), head(a));
  CAF_CHECK_EQUAL(repo_a.ahead("origin", "main"), 0u);
  write_file(b / "node_crypto/nodes.json", "{\"mtb\": {}}\n");
  CAF_REQUIRE(breathe_commit(repo_b).has_value());
  CAF_CHECK(!repo_b.push("origin", "main"));
  CAF_CHECK_EQUAL(must(git_cli + "--git-dir " + origin.string() + " rev-parse main"), head(a));
  CAF_CHECK_EQUAL(must(git_cli + "--git-dir " + origin.string() + " fsck --no-progress"), "");
}

CAF_TEST(fetch updates the remote tracking branch for ahead and behind) {
  auto repo_a = git_repo::open(a.string());
  auto repo_b = git_repo::open(b.string());
  write_file(a / "data/users.json", "{\"from_a\": {}}\n");
  CAF_REQUIRE(breathe_commit(repo_a).has_value());
  CAF_REQUIRE(repo_a.push("origin", "main"));
  write_file(b / "data/users.json", "{\"from_b\": 1}\n");
  CAF_REQUIRE(breathe_commit(repo_b).has_value());
  write_file(b / "data/users.json", "{\"from_b\": 2}\n");
  CAF_REQUIRE(breathe_commit(repo_b).has_value());
  CAF_CHECK_EQUAL(repo_b.ahead("origin", "main"), 2u);
  CAF_CHECK_EQUAL(repo_b.behind("origin", "main"), 0u);
  repo_b.fetch("origin", "main");
  CAF_CHECK_EQUAL(repo_b.ahead("origin", "main"), 2u);
  CAF_CHECK_EQUAL(repo_b.behind("origin", "main"), 1u);
  CAF_CHECK_EQUAL(must(fixture::git(b, "rev-parse origin/main")), head(a));
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
  CAF_CHECK_EQUAL(error_of([&] { breathe_commit(repo); }).find("git commit"), 0u);
  CAF_CHECK(repo.repair());
  CAF_CHECK_EQUAL(run(git(b, "status")).out.find("rebase"), std::string::npos);
  CAF_CHECK_EQUAL(must(git(b, "symbolic-ref HEAD")), "refs/heads/main\n");
  CAF_CHECK_EQUAL(head(b), ours);
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "?? untracked.txt\n");
  CAF_CHECK_EQUAL(must(git(b, "diff --name-only --diff-filter=U")), "");
  CAF_CHECK(!fs::exists(b / ".git/rebase-merge") && !fs::exists(b / ".git/rebase-apply"));
  CAF_CHECK_EQUAL(run(git(b, "fsck --no-progress")).status, 0);
  CAF_CHECK(!repo.repair());
}

CAF_TEST(repair aborts a libgit2 rebase left mid way) {
  write_file(a / "data/users.json", "{\"1\": \"a\"}\n");
  must(git(a, "commit -q -am a") + " && " + git(a, "push -q origin main"));
  write_file(b / "data/users.json", "{\"1\": \"b\"}\n");
  must(git(b, "commit -q -am b") + " && " + git(b, "fetch -q origin"));
  auto ours = head(b);
  auto repo = git_repo::open(b.string());
  { // A breath that crashed inside its rebase: started, stopped on the conflict, never ended.
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
  CAF_CHECK(repo.repair());
  CAF_CHECK_EQUAL(run(git(b, "status")).out.find("rebase"), std::string::npos);
  CAF_CHECK_EQUAL(must(git(b, "symbolic-ref HEAD")), "refs/heads/main\n");
  CAF_CHECK_EQUAL(head(b), ours);
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "");
  CAF_CHECK_EQUAL(run(git(b, "fsck --no-progress")).status, 0);
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
  CAF_CHECK(repo.repair());
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), " M README.md\n");
  CAF_CHECK_EQUAL(head(b), ours);
  CAF_CHECK(!fs::exists(b / ".git/MERGE_HEAD"));
  CAF_CHECK_EQUAL(must(git(b, "show HEAD:data/users.json")),
                  must("cat " + (b / "data/users.json").string()));
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

CAF_TEST(rebase without local commits only catches up) {
  auto repo_b = git_repo::open(b.string());
  auto before = head(b);
  auto nothing = repo_b.rebase("origin", "main", node, utc);
  CAF_CHECK_EQUAL(nothing.replayed, 0u);
  CAF_CHECK(nothing.conflicts.empty() && nothing.copies.empty());
  CAF_CHECK_EQUAL(head(b), before);
  write_file(a / "node_crypto/nodes.json", "{\"mta\": {}}\n");
  must(git(a, "commit -q -am remote") + " && " + git(a, "push -q origin main"));
  repo_b.fetch("origin", "main");
  auto caught_up = repo_b.rebase("origin", "main", node, utc);
  CAF_CHECK_EQUAL(caught_up.replayed, 0u);
  CAF_CHECK_EQUAL(head(b), head(a));
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "");
  check_settled(b);
}

CAF_TEST(rebase puts a local commit on another file on top of the remote) {
  write_file(a / "node_crypto/nodes.json", "{\"mta\": {}}\n");
  must(git(a, "commit -q -am remote") + " && " + git(a, "push -q origin main"));
  auto repo_b = git_repo::open(b.string());
  write_file(b / "data/users.json", "{\"1\": {\"first_name\": \"bob\"}}\n");
  write_file(b / "untracked.txt", "stays\n");
  CAF_REQUIRE(breathe_commit(repo_b).has_value());
  repo_b.fetch("origin", "main");
  auto result = repo_b.rebase("origin", "main", node, utc);
  CAF_CHECK_EQUAL(result.replayed, 1u);
  CAF_CHECK(result.conflicts.empty() && result.copies.empty());
  CAF_CHECK_EQUAL(must(git(b, "rev-parse HEAD~1")), head(a));
  CAF_CHECK_EQUAL(must(git(b, "rev-list --merges HEAD")), "");
  CAF_CHECK_EQUAL(must(git(b, "log -1 --format=%an/%s")), "node/[sync] breathing test\n");
  CAF_CHECK_EQUAL(read_file(b / "node_crypto/nodes.json"), "{\"mta\": {}}\n");
  CAF_CHECK_EQUAL(read_file(b / "data/users.json"), "{\"1\": {\"first_name\": \"bob\"}}\n");
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "?? untracked.txt\n");
  CAF_CHECK_EQUAL(repo_b.ahead("origin", "main"), 1u);
  CAF_CHECK_EQUAL(repo_b.behind("origin", "main"), 0u);
  check_settled(b);
  CAF_CHECK(repo_b.push("origin", "main"));
}

CAF_TEST(rebase merges edits of different keys in one JSON file) {
  write_file(a / "data/users.json", "{\"1\": \"ann\", \"2\": \"bob\"}\n");
  must(git(a, "commit -q -am base") + " && " + git(a, "push -q origin main"));
  must(git(b, "fetch -q origin") + " && " + git(b, "merge -q --ff-only origin/main"));
  diverge(*this, "{\"1\": \"ANN\", \"2\": \"bob\"}\n", "{\"1\": \"ann\", \"2\": \"BOB\"}\n");
  auto repo_b = git_repo::open(b.string());
  auto result = repo_b.rebase("origin", "main", node, utc);
  CAF_CHECK_EQUAL(result.replayed, 1u);
  CAF_CHECK_EQUAL(result.conflicts, std::vector<std::string>{"data/users.json"});
  CAF_CHECK(result.copies.empty());
  auto merged = nlohmann::json::parse(read_file(b / "data/users.json"));
  CAF_CHECK_EQUAL(merged, nlohmann::json::parse(R"({"1": "ANN", "2": "BOB"})"));
  CAF_CHECK_EQUAL(must(git(b, "show HEAD:data/users.json")), read_file(b / "data/users.json"));
  CAF_CHECK_EQUAL(must(git(b, "rev-parse HEAD~1")), head(a));
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "");
  CAF_CHECK_EQUAL(must(git(b, "ls-files data")), "data/users.json\n");
  check_settled(b);
}

CAF_TEST(rebase keeps the remote value of a key edited on both sides and commits ours in a copy) {
  diverge(*this, "{\"1\": {\"first_name\": \"remote\"}}\n",
          "{\"1\": {\"first_name\": \"local\"}}\n");
  auto repo_b = git_repo::open(b.string());
  std::vector<merge_input> seen;
  auto result = repo_b.rebase("origin", "main", node, utc, [&](const merge_input& in) {
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
  CAF_CHECK_EQUAL(nlohmann::json::parse(read_file(b / "data/users.json")),
                  nlohmann::json::parse(R"({"1": {"first_name": "remote"}})"));
  CAF_CHECK_EQUAL(nlohmann::json::parse(must(git(b, "show HEAD:" + copy))),
                  nlohmann::json::parse(R"({"1": {"first_name": "local"}})"));
  CAF_CHECK_NOT_EQUAL(must(git(b, "show --name-status --format= HEAD")).find("A\t" + copy + "\n"),
                      std::string::npos);
  CAF_CHECK_EQUAL(must(git(b, "rev-parse HEAD~1")), head(a));
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "");
  check_settled(b);
}

CAF_TEST(rebase aborts when the resolver throws and leaves the local commit in place) {
  auto ours = diverge(*this, "{\"1\": \"remote\"}\n", "{\"1\": \"local\"}\n");
  write_file(b / "untracked.txt", "stays\n");
  auto repo_b = git_repo::open(b.string());
  auto message = error_of([&] {
    repo_b.rebase("origin", "main", node, utc,
                  [](const merge_input&) -> merge_result { throw std::runtime_error{"boom"}; });
  });
  CAF_CHECK_EQUAL(message.find("git rebase on origin/main [" + b.string() + "]: "), 0u);
  CAF_CHECK_NOT_EQUAL(message.find("boom"), std::string::npos);
  CAF_CHECK_EQUAL(head(b), ours);
  CAF_CHECK_EQUAL(read_file(b / "data/users.json"), "{\"1\": \"local\"}\n");
  CAF_CHECK_EQUAL(must(git(b, "status --porcelain")), "?? untracked.txt\n");
  check_settled(b);
  CAF_CHECK(!repo_b.repair());
  // And the next attempt, with the real rule, goes through.
  auto result = repo_b.rebase("origin", "main", node, utc);
  CAF_CHECK_EQUAL(result.copies.size(), 1u);
  CAF_CHECK_EQUAL(must(git(b, "rev-parse HEAD~1")), head(a));
  check_settled(b);
}

CAF_TEST_FIXTURE_SCOPE_END()
