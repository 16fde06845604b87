// Real repositories for the git suites: a bare `origin` with one commit on main and two clones
// `a` and `b`, in a fresh temp dir per test, plus the git CLI for set-up and interop checks.
// Include after caf/test/dsl.hpp.
#pragma once

#include "tests/support/git_cli.hpp"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace montana::testing {

namespace fs = std::filesystem;

/// Runs a set-up command that has to succeed.
inline std::string must(const std::string& command) {
  auto result = run(command);
  if (result.status != 0)
    CAF_FAIL("setup failed: " << command << "\n" << result.out);
  return result.out;
}

/// The commit HEAD of `clone` names, with a trailing newline (as the CLI prints it).
inline std::string head(const fs::path& clone) {
  return must(git(clone, "rev-parse HEAD"));
}

/// The message of the exception `f` throws, or empty when it throws nothing.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

/// The clone is on main, not mid-rebase or merge, with no conflicts or conflict markers left and
/// a clean object store.
inline void check_settled(const fs::path& clone) {
  CAF_CHECK_EQUAL(run(git(clone, "status")).out.find("rebase"), std::string::npos);
  CAF_CHECK(!fs::exists(clone / ".git/rebase-merge") && !fs::exists(clone / ".git/rebase-apply"));
  CAF_CHECK(!fs::exists(clone / ".git/MERGE_HEAD"));
  CAF_CHECK_EQUAL(must(git(clone, "symbolic-ref HEAD")), "refs/heads/main\n");
  CAF_CHECK_EQUAL(must(git(clone, "diff --name-only --diff-filter=U")), "");
  CAF_CHECK_NOT_EQUAL(run("grep -rqs '^<<<<<<< ' " + clone.string() + " --exclude-dir=.git").status,
                      0);
  CAF_CHECK_EQUAL(run(git(clone, "fsck --no-progress")).status, 0);
}

/// origin.git, a and b, copied from a template made once per process (cloning costs ~0.4 s).
struct git_fixture {
  fs::path dir;
  fs::path origin;
  fs::path a;
  fs::path b;

  git_fixture() {
    dir = make_temp_dir("montana-git-XXXXXX");
    fs::copy(template_dir(), dir, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    origin = dir / "origin.git";
    a = dir / "a";
    b = dir / "b";
    for (const auto& clone : {a, b}) { // point the clones at this copy of origin
      auto config = read_file(clone / ".git/config");
      auto at = config.find(template_dir().string());
      if (at == std::string::npos)
        CAF_FAIL("template clone without origin url: " << config);
      config.replace(at, template_dir().string().size(), dir.string());
      write_file(clone / ".git/config", config);
    }
  }

  ~git_fixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  static fs::path make_temp_dir(const std::string& name) {
    std::string pattern = (fs::temp_directory_path() / name).string();
    if (!::mkdtemp(pattern.data()))
      throw std::runtime_error{"mkdtemp failed"};
    return pattern;
  }

  /// The template: built on first use, removed at exit.
  static const fs::path& template_dir() {
    struct built {
      fs::path dir = make_temp_dir("montana-git-template-XXXXXX");
      built() {
        auto origin = (dir / "origin.git").string();
        auto a = dir / "a";
        // No sample hooks (--template=): fewer files to copy per test.
        must(git_cli + "init -q --bare --template= " + origin);
        must(git_cli + "clone -q --template= " + origin + " " + a.string());
        write_file(a / "data/users.json", "{\"1\": {\"first_name\": \"ann\"}}\n");
        write_file(a / "node_crypto/nodes.json", "{}\n");
        write_file(a / "README.md", "readme\n");
        must(git(a, "add -A") + " && " + git(a, "commit -q -m init") + " && " +
             git(a, "push -q origin main"));
        must(git_cli + "clone -q --template= " + origin + " " + (dir / "b").string());
      }
      ~built() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
      }
    };
    static built instance;
    return instance.dir;
  }
};

} // namespace montana::testing
