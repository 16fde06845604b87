// Blocking libgit2 operations on one clone, for the breather's I/O thread (no CAF in here): the
// object-level building blocks of runtime/git_port (which owns the policy of a breath).
//
// Nothing in here writes working-tree files. Commits are built from given contents (never from a
// re-read of the working tree), rebases run in memory, and refs move only through `move_branch`,
// a compare-and-swap. The clone's index changes only through `restage` (and `repair`).
//
// Every call blocks until libgit2 is done and reports failure as a `git_failure` whose message is
// one line: the operation, the repository path and libgit2's reason, with any credentials in URLs
// removed. A `git_repo` is used by one thread at a time; several may exist in one process.
// Commit and blob ids are 40 lower-case hex digits.
#pragma once

#include "actors/json_merge.hpp"
#include "actors/settings.hpp"

#include <cstddef>
#include <cstdint>
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

/// Throws a `git_failure` "git <operation> [<repo>]: <reason>", made one line and stripped of
/// credentials in URLs.
[[noreturn]] void git_fail(const std::string& operation, const std::string& repo,
                           const std::string& reason);

/// Decides the content of one file both sides changed while replaying a local commit (normally
/// `merge_synced_file`); may throw, which fails the rebase.
using resolver = std::function<merge_result(const merge_input&)>;

/// Git file modes of tree and index entries.
enum file_mode : uint32_t {
  regular_file = 0100644,
  executable_file = 0100755,
  symlink_file = 0120000,
  submodule_entry = 0160000,
};

/// A file as a tree or the index records it.
struct file_entry {
  std::string id;
  uint32_t mode = regular_file;
  bool operator==(const file_entry&) const = default;
};

/// One path of a new commit: its new entry, or nullopt to delete it.
struct file_change {
  std::string path;
  std::optional<file_entry> entry;
};

/// One change to the clone's index: the stage-0 entry of `path` becomes `to` (nullopt: removed),
/// but only while it is one of `from` (nullopt there: no entry); an empty `from` matches any.
struct index_change {
  std::string path;
  std::vector<std::optional<file_entry>> from;
  std::optional<file_entry> to;
};

/// What an in-memory rebase made.
struct rebase_result {
  /// The new tip: the replayed commit, `onto` when nothing was replayed, or the local tip when
  /// it already contains `onto`. Not yet referenced by any branch.
  std::string tip;
  /// Local commits folded into the replayed commit (0 when there was none).
  std::size_t replayed = 0;
  /// Paths where the resolver found a real conflict (a key both sides changed differently),
  /// once each, in order of appearance.
  std::vector<std::string> conflicts;
  /// Conflict copies committed next to them, repository-relative.
  std::vector<std::string> copies;
};

/// An open clone with a working tree.
class git_repo {
public:
  /// Opens the clone at `path` (its working tree, no search upwards); throws `git_failure` when
  /// the directory is missing or is not a readable repository. `credentials` serve fetch and push.
  static git_repo open(const std::string& path, breath_credentials credentials = {});

  git_repo(git_repo&&) noexcept;
  git_repo& operator=(git_repo&&) noexcept;
  ~git_repo();

  /// The working tree this repository was opened at, as given.
  const std::string& path() const { return path_; }

  /// The working tree's directory, ending in '/'.
  std::string workdir() const;

  /// This working tree's git directory (`.git/`, or the linked worktree's), ending in '/'.
  std::string gitdir() const;

  /// The directory holding refs and objects (the main `.git/` for a linked worktree), ending '/'.
  std::string commondir() const;

  /// The full name of the branch HEAD names ("refs/heads/main"), born or not; throws when HEAD
  /// is detached or a rebase, merge or similar is in progress.
  std::string head_branch();

  /// The commit `ref` points to; nullopt when the ref does not exist.
  std::optional<std::string> tip(const std::string& ref);

  /// Whether `id` names a commit in the object store.
  bool has_commit(const std::string& id);

  /// The first parent of commit `id`; nullopt for a root commit or a missing one.
  std::optional<std::string> first_parent(const std::string& id);

  /// The entry of `path` in `commit`'s tree; nullopt when absent there (or no commit given).
  std::optional<file_entry> file_at(const std::optional<std::string>& commit,
                                    const std::string& path);

  /// Paths whose entry differs between the trees of `from` (nullopt: empty tree) and `to`,
  /// sorted, each once.
  std::vector<std::string> changed_paths(const std::optional<std::string>& from,
                                         const std::string& to);

  /// The content of blob `id`; nullopt when the object store lacks it.
  std::optional<std::string> blob(const std::string& id);

  /// Stores `text` as a blob and returns its id.
  std::string write_blob(const std::string& text);

  /// The id `text` has as a blob, computed without storing it.
  static std::string blob_id(const std::string& text);

  /// Creates a commit whose tree is `parent`'s (nullopt: empty) with `changes` applied, authored
  /// and committed by `author_name` <`author_email`> now. Moves no ref. Returns nullopt when the
  /// tree equals the parent's.
  std::optional<std::string> commit(const std::optional<std::string>& parent,
                                    const std::vector<file_change>& changes,
                                    const std::string& message, const std::string& author_name,
                                    const std::string& author_email);

  /// Points `branch` ("refs/heads/main") at `to` if it still points at `from` (nullopt: does not
  /// exist yet), atomically; false when it moved meanwhile. `why` goes to the reflog.
  bool move_branch(const std::string& branch, const std::string& to,
                   const std::optional<std::string>& from, const std::string& why);

  /// Applies `changes` to the clone's index in one read-modify-write; entries written carry no
  /// stat data, so git compares their content with the working file. Writes nothing when no
  /// entry changes.
  void restage(const std::vector<index_change>& changes);

  /// `wanted`, or `wanted` with "-2", "-3", ... before its extension: the first that neither
  /// `commit`'s tree nor the working tree has.
  std::string free_path(const std::string& wanted, const std::optional<std::string>& commit);

  /// Replays the commits of `local` that `onto` lacks on top of `onto` as ONE new commit, in
  /// memory: no ref, index or working-tree file changes, no rebase state on disk (only new
  /// objects). A path only the local side changed (against the merge base) takes the local
  /// version; a path both sides changed differently goes through `resolve` on the three blobs
  /// (base = the merge base's, ours = `local`'s, theirs = `onto`'s) — no text merge, so a large
  /// synced file costs its reads and one write — and the result and its conflict copy (see
  /// `free_path`) are committed. The commit keeps the newest local commit's author and message;
  /// `replayed` counts the local commits folded into it (0 when nothing was left to commit).
  /// `node` and `utc` name the conflict copies.
  rebase_result rebase(const std::string& local, const std::string& onto, const std::string& node,
                       const std::string& utc, const resolver& resolve = merge_synced_file);

  /// The URL of `remote` as configured; throws `git_failure` when there is no such remote.
  std::string remote_url(const std::string& remote);

  /// Updates `refs/remotes/<remote>/<branch>` from the remote's `<branch>`.
  void fetch(const std::string& remote, const std::string& branch);

  /// Pushes local `<branch>` to the remote's `<branch>`; false when refused as
  /// non-fast-forward (fetch and rebase, then try again).
  bool push(const std::string& remote, const std::string& branch);

  /// Commits on local `<branch>` not on `refs/remotes/<remote>/<branch>`.
  std::size_t ahead(const std::string& remote, const std::string& branch);

  /// Commits on `refs/remotes/<remote>/<branch>` not on local `<branch>`.
  std::size_t behind(const std::string& remote, const std::string& branch);

  /// Aborts an interrupted rebase, merge, cherry-pick or revert (say, the git CLI's, or one left
  /// by a crash) so that HEAD is a branch again, the index has no conflicts and no operation is
  /// in progress. Returns what it aborted ("an interrupted rebase"), empty when nothing.
  std::string repair();

private:
  /// Frees the libgit2 handle; defined where libgit2 is included.
  struct repository_free {
    void operator()(git_repository* repo) const noexcept;
  };

  git_repo(std::unique_ptr<git_repository, repository_free> repo, std::string path,
           breath_credentials credentials);

  /// Local and remote-tracking distance, {ahead, behind}.
  std::pair<std::size_t, std::size_t> distance(const std::string& remote,
                                               const std::string& branch);

  std::unique_ptr<git_repository, repository_free> repo_;
  std::string path_;
  breath_credentials credentials_;
};

} // namespace montana
