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
// unchanged file (a crash after the ref moved, or changes that came while a duty held it): the
// file gets H, unless a duty holds it. Otherwise the branch moved under a file written on an
// older version: W is merged three ways with merge_synced_file (base B, ours W, theirs H), and
// the merged file and its conflict copy are committed. A base whose blob is gone merges as "no
// base" (every differing key conflicts, the winner's value stays, the other goes to the copy):
// nothing is lost.
//
// One writer (sync_mode). While a duty's process runs on this node (`hold`), it owns the synced
// working files: exhale commits what it wrote (merged by key with what came from elsewhere,
// against the recorded base, so those changes are never reverted) but never rewrites the file,
// and inhale leaves it alone; the process sees the others' changes at its next start, after the
// new holder's hand-over breath (`follow`). On a key both changed differently the holder's
// value wins (`hold`, and `release` for the old holder's last writes), the other one goes to the
// conflict copy; on a node where no duty runs (`follow`) the remote's value wins.
//
// Never a broken file. A synced ".json" file that does not parse is never committed: exhale
// reads it again every 50 ms for up to `broken_wait` (its writer may be mid-write), then reports
// it. While a duty holds it, it is left to the duty; otherwise it is put back to its last good
// version (HEAD's, else the newest good one in the last 100 first-parent commits) and the
// broken one is kept next to it as `<path>.broken-<node>-<utc>`, never committed. A version
// that does not parse is never merged (json_merge.hpp) nor written into a working file.
//
// Cost grows with what changed. Each synced file's stat (size, times, inode) is remembered with
// its blob id: a file whose stat did not change since it was read is not read again (a stat
// less than 20 ms older than the read is not trusted: file times are as coarse as the kernel's
// tick). Fetch and push run in a child process with a deadline (runtime/git_transfer.hpp).
//
// The writer lock. Writers of synced files that want no race at all hold an exclusive flock(2) on
// `sync_lock_path(repo)` (`<gitdir>/montana-sync.lock`) while they write (`sync_lock` here,
// `fcntl.flock(fd, fcntl.LOCK_EX)` in Python; NOT fcntl/lockf record locks, which do not see
// flock locks). The port holds the same lock only in its short, local critical sections:
// reading the synced files in exhale, and each check-and-replace of working files. It never
// holds it across network I/O or while waiting for a broken file. A duty holding the files
// needs no lock (nothing else writes them); a writer without the lock on a node where no duty
// runs can lose a race only inside a check-and-replace (microseconds).
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
#include "runtime/git_transfer.hpp"

#include <array>
#include <chrono>
#include <map>
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
  /// The program that runs fetch and push (runtime/git_transfer.hpp).
  std::string transfer = transfer_helper();
};

/// The libgit2 breath port of one clone (see the top of this file).
class git_port : public breath_port {
public:
  /// `settings` with `{node}` already expanded; `node` names conflict copies. Opens nothing yet.
  git_port(breath_settings settings, std::string node, git_port_options options = {});
  ~git_port() override;

  std::string prepare() override;
  exhale_result exhale(const std::string& message, const std::string& utc, sync_mode mode) override;
  uint64_t fetch(std::chrono::milliseconds limit) override;
  inhale_result inhale(const std::string& utc, sync_mode mode) override;
  push_result push(std::chrono::milliseconds limit) override;
  uint64_t ahead() override;
  void interrupt() override;

  /// What the port remembers of a synced working file it read (see "Cost" above).
  struct known_file {
    /// Device, inode, size, modification and change times (ns), mode.
    std::array<int64_t, 6> stamp{};
    std::optional<file_entry> entry;
    /// Whether it parses (always true for a path that is not ".json").
    bool valid = true;
  };

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
  git_transfer transfer_;
  /// Per synced path, what it was when last read (absent: read it next time).
  std::map<std::string, known_file> known_;
  /// Whether prepare() already warned that the remote is a local path.
  bool warned_local_remote_ = false;
};

} // namespace montana
