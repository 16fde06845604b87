// The real breath port: the steps of a breath on one clone, in-process with libgit2.
//
// What it touches. A breath commits only the synced `paths`, from the content it read (never a
// re-read); anything else staged, modified or untracked stays exactly as it was and never blocks
// a breath. The rebase of inhale runs in memory (no rebase state on disk, so a crash never leaves
// the clone mid-rebase or with conflict markers); the branch then moves with a compare-and-swap,
// and only the paths that changed between the old and the new tip are brought up to date:
//   - a synced file that still equals its *base* (below) gets the new content; one written since
//     is left alone and reported `deferred`, the next exhale merges it;
//   - any other file that equals the old tip's version (unchanged locally) gets the new version;
//     one changed locally is left alone and reported `kept`;
//   - an index entry equal to the old tip's moves to the new tip's; a staged one stays.
// Files are replaced atomically (a temporary `.<name>.montana-tmp` next to them, then rename).
//
// The synced record, `<gitdir>/montana/synced` (replaced atomically), remembers
//   - `tip`: the commit the working tree was last brought up to date with by an inhale, and
//   - per synced path its *base*: the blob its working file was last synced to or committed
//     from ("-": the file did not exist).
// The first prepare writes it taking the working tree to reflect HEAD. exhale reads each synced
// file W and compares it with HEAD's blob H and its base B (no base recorded: B = H). W = H:
// nothing to do. B = H: W is a local change, committed as is. W = B: the branch moved under an
// unchanged file (a crash after the ref moved): the file gets H. Otherwise the branch moved under a
// file written on an older version (a write landing during the last inhale, or a crash): W is
// merged three ways with merge_synced_file (base B, ours W, theirs H), and the merged file and its
// conflict copy are committed. A base whose blob is gone merges as "no base" (every differing key
// conflicts, theirs wins, ours goes to the copy): nothing is lost.
//
// The writer lock. Writers of synced files that want no race at all hold an exclusive flock(2) on
// `sync_lock_path(repo)` (`<gitdir>/montana-sync.lock`) while they write (`sync_lock` here,
// `fcntl.flock(fd, fcntl.LOCK_EX)` in Python; NOT fcntl/lockf record locks, which do not see
// flock locks), and replace the file atomically (write a temporary file, rename). The
// port holds the same lock only in its short, local critical sections: reading the synced files
// in exhale, and each check-and-replace of working files (exhale's merged files, inhale's
// updates). It never holds it across network I/O. A writer that does not lock can lose a race
// only inside such a check-and-replace (microseconds); a writer that does not replace files
// atomically can have a half-written file committed (it is then fixed by its next write).
//
// Crash safety. Objects are written before any ref moves; refs move atomically; the record is
// replaced atomically after the working tree is updated, so a crash anywhere heals at the next
// breath (exhale merges or updates synced files from the record; inhale compares against both
// the recorded tip and the branch's previous tip). Each step marks itself in
// `<gitdir>/montana/busy`; `prepare` finding that marker knows the last step died and removes
// the git lock files (index.lock, the branch's ref lock, ...) and temporary files it may have
// left. It aborts a rebase or merge the git CLI (or the old system) left in progress; the synced
// files writers wrote meanwhile are put back afterwards (unless they hold conflict markers), so
// the next exhale commits them. A port holds `<gitdir>/montana/port.lock` (flock) from `prepare`
// until destroyed: a second port on the same clone, in this process or another, is refused.
#pragma once

#include "actors/breath_port.hpp"
#include "actors/settings.hpp"
#include "runtime/git_repo.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace montana {

/// The writer lock of the clone whose working tree is `repo`: `<gitdir>/montana-sync.lock`.
/// Throws `git_failure` when `repo` is not a clone.
std::string sync_lock_path(const std::string& repo);

/// An exclusive flock on a file (created if missing), held until the object holding it is
/// destroyed.
class sync_lock {
public:
  /// Takes the lock on `path`, waiting up to `wait` (zero: one try); throws `git_failure`
  /// ("git lock [<path>]: held by someone else for over <wait> ms") when it stays taken.
  explicit sync_lock(const std::string& path,
                     std::chrono::milliseconds wait = std::chrono::milliseconds{10000});
  sync_lock(sync_lock&& other) noexcept;
  sync_lock& operator=(sync_lock&& other) noexcept;
  sync_lock(const sync_lock&) = delete;
  sync_lock& operator=(const sync_lock&) = delete;
  ~sync_lock();

private:
  int fd_ = -1;
};

/// Knobs of a git_port that are not configuration.
struct git_port_options {
  /// The merge rule for synced files (tests wrap it to act in the middle of an inhale).
  resolver resolve = merge_synced_file;
  /// Longest wait for the writer lock before a step fails.
  std::chrono::milliseconds lock_wait{10000};
};

/// The libgit2 breath port of one clone (see the top of this file).
class git_port : public breath_port {
public:
  /// `settings` with `{node}` already expanded; `node` names conflict copies. Opens nothing yet.
  git_port(breath_settings settings, std::string node, git_port_options options = {});
  ~git_port() override;

  std::string prepare() override;
  exhale_result exhale(const std::string& message, const std::string& utc) override;
  uint64_t fetch() override;
  inhale_result inhale(const std::string& utc) override;
  push_result push() override;
  uint64_t ahead() override;

private:
  /// The open clone on the configured branch; throws naming `step` when `prepare` has not
  /// succeeded yet or HEAD names another branch.
  git_repo& repo(const std::string& step);
  /// The local branch's ref name ("refs/heads/main").
  std::string branch_ref() const;

  breath_settings settings_;
  std::string node_;
  git_port_options options_;
  std::optional<git_repo> repo_;
  std::optional<sync_lock> port_lock_;
  /// Whether prepare() already warned that the remote is a local path.
  bool warned_local_remote_ = false;
};

} // namespace montana
