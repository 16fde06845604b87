// Blocking libgit2 operations on one clone, for the breather's I/O thread (no CAF in here).
//
// Every call blocks until libgit2 is done and reports failure as a `git_failure` whose message is
// one line: the operation, the repository path and libgit2's reason, with any credentials in URLs
// removed. A `git_repo` is used by one thread at a time; several may exist in one process.
#pragma once

#include "actors/json_merge.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct git_repository;

namespace montana {

/// A failed git operation; `what()` is one line: "git <operation> [<repo>]: <reason>".
class git_failure : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Decides the content of one file that conflicted while replaying a local commit (normally
/// `merge_synced_file`); may throw, which aborts the rebase.
using resolver = std::function<merge_result(const merge_input&)>;

/// What a rebase did.
struct rebase_result {
  /// Local commits replayed on top of the remote branch (steps that became empty excluded).
  std::size_t replayed = 0;
  /// Paths that conflicted and went through the resolver, once each, in order of appearance.
  std::vector<std::string> conflicts;
  /// Conflict copies written and committed, repository-relative.
  std::vector<std::string> copies;
};

/// An open clone with a working tree: commit selected paths, fetch, push, compare, repair.
class git_repo {
public:
  /// Opens the clone at `path` (its working tree, no search upwards); throws `git_failure` when
  /// the directory is missing or is not a readable repository.
  static git_repo open(const std::string& path);

  git_repo(git_repo&&) noexcept;
  git_repo& operator=(git_repo&&) noexcept;
  ~git_repo();

  /// The working tree this repository was opened at.
  const std::string& path() const { return path_; }

  /// Commits exactly the working-tree state of `paths` (relative, added, modified or deleted) on
  /// top of HEAD on the current branch; everything else staged, modified or untracked stays as
  /// it is. Returns the new commit id, or nullopt when those paths equal HEAD.
  std::optional<std::string> commit_paths(const std::vector<std::string>& paths,
                                          const std::string& message,
                                          const std::string& author_name,
                                          const std::string& author_email);

  /// Updates `refs/remotes/<remote>/<branch>` from the remote's `<branch>`.
  void fetch(const std::string& remote, const std::string& branch);

  /// Pushes local `<branch>` to the remote's `<branch>`; false when refused as
  /// non-fast-forward (fetch and rebase, then try again).
  bool push(const std::string& remote, const std::string& branch);

  /// Commits on local `<branch>` not on `refs/remotes/<remote>/<branch>`.
  std::size_t ahead(const std::string& remote, const std::string& branch);

  /// Commits on `refs/remotes/<remote>/<branch>` not on local `<branch>`.
  std::size_t behind(const std::string& remote, const std::string& branch);

  /// Aborts an interrupted rebase, merge, cherry-pick or revert (say, after a crash) so that
  /// HEAD is a branch again, the index has no conflicts and no operation is in progress.
  /// Returns whether anything had to be repaired.
  bool repair();

  /// Replays the local commits of the current branch on top of `refs/remotes/<remote>/<branch>`
  /// (fetch first), like `git rebase`: with no local commits the branch just moves to the remote
  /// one. Each path a step leaves conflicted goes through `resolve` with base = ancestor,
  /// ours = the local commit's version, theirs = the remote's; its result is written, staged and
  /// committed in that step, together with the conflict copy if there is one (made unique
  /// should the path exist already). `node` and `utc` name the conflict copies.
  ///
  /// Tracked files must have no uncommitted changes (untracked files are fine). On any failure
  /// (libgit2, the resolver throwing, I/O) the rebase is aborted, HEAD and the working tree are
  /// as before, and `git_failure` is thrown: the repository is never left mid-rebase.
  rebase_result rebase(const std::string& remote, const std::string& branch,
                       const std::string& node, const std::string& utc,
                       const resolver& resolve = merge_synced_file);

private:
  /// Frees the libgit2 handle; defined where libgit2 is included.
  struct repository_free {
    void operator()(git_repository* repo) const noexcept;
  };

  git_repo(std::unique_ptr<git_repository, repository_free> repo, std::string path);

  /// Local and remote-tracking distance, {ahead, behind}.
  std::pair<std::size_t, std::size_t> distance(const std::string& remote,
                                               const std::string& branch);

  std::unique_ptr<git_repository, repository_free> repo_;
  std::string path_;
};

} // namespace montana
