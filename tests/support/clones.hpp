// Real clones of one origin served by `git daemon` on loopback, for the breathing integration
// suites. Include after caf/test/dsl.hpp.
#pragma once

#include "tests/support/cluster.hpp"
#include "tests/support/git_fixture.hpp"
#include "tests/support/guard.hpp"

#include <csignal>
#include <filesystem>
#include <functional>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace montana::testing {

/// The synced files of the tests' clones.
inline const std::vector<std::string> synced = {"data/users.json", "node_crypto/nodes.json"};

/// Every node's clone at `<dir>/<node>` of the fixture's origin, served by `git daemon` on
/// 127.0.0.1 (a real receive-pack that updates refs with a compare-and-swap; libgit2's in-process
/// transport for a local path does not, so concurrent pushes to a path can overwrite each other),
/// with unrelated local edits that must stay local: README.md modified, staged.txt staged,
/// untracked.txt untracked.
struct clones {
  git_fixture repos;
  uint16_t port;
  std::string url;
  pid_t daemon = -1;

  explicit clones(const std::vector<std::string>& nodes) : port{free_port("127.0.0.1")} {
    url = "git://127.0.0.1:" + std::to_string(port) + "/origin.git";
    start_daemon();
    for (const auto& n : nodes) {
      auto path = clone(n);
      write_file(path / "README.md", "local edit of " + n + "\n");
      write_file(path / "staged.txt", "staged on " + n + "\n");
      must(git(path, "add staged.txt"));
      write_file(path / "untracked.txt", "untracked on " + n + "\n");
    }
  }

  ~clones() { stop_daemon(); }

  /// Serves origin on `url` until stop_daemon().
  void start_daemon() {
    std::string problem;
    daemon = spawn_child({find_tool("git"), "daemon", "--reuseaddr", "--export-all",
                          "--enable=receive-pack", "--informative-errors", "--listen=127.0.0.1",
                          "--port=" + std::to_string(port), "--base-path=" + repos.dir.string(),
                          repos.dir.string()},
                         "/dev/null", (repos.dir / "daemon.log").string(), problem);
    if (daemon < 0)
      CAF_FAIL("git daemon: " << problem);
    if (!wait_until([&] { return run(git_cli + "ls-remote " + url).status == 0; },
                    std::chrono::seconds{10}))
      CAF_FAIL("git daemon does not answer: " << read_file(repos.dir / "daemon.log"));
  }

  /// The remote is gone: connections to `url` are refused.
  void stop_daemon() {
    if (daemon < 0)
      return;
    ::kill(daemon, SIGTERM);
    ::waitpid(daemon, nullptr, 0);
    daemon = -1;
  }

  /// A fresh clone of origin at `<dir>/<name>`.
  fs::path clone(const std::string& name) const {
    auto path = repos.dir / name;
    must(git_cli + "clone -q " + url + " " + path.string());
    return path;
  }

  /// `path` as committed on origin's main.
  std::string show(const std::string& path) const {
    return must(git_cli + "--git-dir " + repos.origin.string() + " show main:" + path);
  }

  fs::path at(const std::string& node) const { return repos.dir / node; }

  /// The [breath] of a cluster breathing these clones every `interval`.
  std::function<void(config&)> tweak(duration interval) const {
    auto repo = (repos.dir / "{node}").string();
    return [repo, interval](config& cfg) {
      cfg.breath.repo = repo;
      cfg.breath.interval = interval;
      cfg.breath.backoff_max = interval * 4;
      cfg.breath.step_timeout = duration{20000};
    };
  }

  /// The unrelated edits are still there, exactly, and never reached the remote.
  void check_local_edits_untouched(const std::string& n) const {
    auto path = at(n);
    CAF_CHECK_EQUAL(read_file(path / "README.md"), "local edit of " + n + "\n");
    CAF_CHECK_EQUAL(read_file(path / "untracked.txt"), "untracked on " + n + "\n");
    CAF_CHECK_EQUAL(must(git(path, "status --porcelain -- README.md staged.txt untracked.txt")),
                    " M README.md\nA  staged.txt\n?? untracked.txt\n");
    CAF_CHECK_EQUAL(show("README.md"), "readme\n");
    CAF_CHECK_EQUAL(must(git(path, "log --oneline origin/main -- staged.txt untracked.txt")), "");
  }

  /// The clone is on main at the remote's commit, its synced files as committed (unless a duty
  /// running there holds them: they catch up at its next start), nothing in progress, and fsck
  /// is clean.
  void check_equal_to_remote(const std::string& n, bool files_held = false) const {
    auto path = at(n);
    auto remote = must(git_cli + "--git-dir " + repos.origin.string() + " rev-parse main");
    CAF_CHECK_EQUAL(must(git(path, "rev-parse HEAD")), remote);
    CAF_CHECK_EQUAL(must(git(path, "symbolic-ref HEAD")), "refs/heads/main\n");
    if (!files_held)
      for (const auto& file : synced)
        CAF_CHECK_EQUAL(read_file(path / file), show(file));
    CAF_CHECK(!fs::exists(path / ".git/rebase-merge") && !fs::exists(path / ".git/rebase-apply"));
    CAF_CHECK_EQUAL(must(git(path, "diff --name-only --diff-filter=U")), "");
    CAF_CHECK_EQUAL(run(git(path, "fsck --no-progress")).status, 0);
  }
};

} // namespace montana::testing
