// The seam between the breather and git: the breather decides when and in which order the
// steps of a breath run, a breath port performs them on one clone. The real port is
// runtime/git_port (libgit2, in-process); tests use a fake that scripts each step's outcome.
//
// Every call blocks and runs on the breather's detached worker thread, never on a CAF
// scheduler thread; only `interrupt` comes from another thread. A failed step throws
// std::runtime_error whose what() is one line naming the step, the repository and the reason
// (never a credential). No step may leave the clone mid-rebase or with conflict markers, and no
// step loses a change: local commits stay until pushed, and a synced file written while a
// breath runs is merged by the next exhale. The network steps (fetch, push) end within their
// `limit` whatever the remote does. `mode` says who owns the synced working files (sync_mode).
#pragma once

#include "messages/messages.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace montana {

/// Performs the steps of a breath on one clone. Used by one thread at a time.
class breath_port {
public:
  virtual ~breath_port() = default;

  /// (Re)opens the clone and repairs what an interrupted operation left behind (an aborted
  /// rebase or merge from a crash, a stale lock of ours). Called before the first breath and
  /// after a failed one. Returns what was repaired, one line, empty when nothing was; throws
  /// when the clone is missing or corrupt.
  virtual std::string prepare() = 0;

  /// Commits the working-tree changes of the synced paths (nothing else) on the local
  /// branch with `message`. A synced file whose working copy was written on top of an older
  /// version than the branch now has is merged three ways first. A synced JSON file that does
  /// not parse is waited for, and never committed. `utc` names conflict copies.
  virtual exhale_result exhale(const std::string& message, const std::string& utc,
                               sync_mode mode) = 0;

  /// Updates the remote-tracking branch from the remote within `limit`; returns the commits it
  /// has that the local branch lacks.
  virtual uint64_t fetch(std::chrono::milliseconds limit) = 0;

  /// Replays the local commits on the remote-tracking branch (merge rule of json_merge.hpp for
  /// conflicts) and brings the working files the branch changed up to date where they are
  /// unchanged locally (synced ones not while a duty holds them). Locally modified, staged or
  /// untracked files are neither committed nor touched (a synced one is merged by the next
  /// exhale).
  virtual inhale_result inhale(const std::string& utc, sync_mode mode) = 0;

  /// Pushes the local branch within `limit`; `pushed` is false when the remote refused it as
  /// non-fast-forward (fetch and inhale, then try again).
  virtual push_result push(std::chrono::milliseconds limit) = 0;

  /// Ends a fetch or push running on another thread now: it fails as "interrupted". Safe to
  /// call from any thread, at any time.
  virtual void interrupt() = 0;

  /// Local commits the remote-tracking branch lacks (what the next push would send).
  virtual uint64_t ahead() = 0;
};

using breath_port_ptr = std::shared_ptr<breath_port>;

/// Whether `path` is a repository-relative path that stays inside the working tree: not
/// empty, not absolute, no empty, "." or ".." component, no ".git" component, no trailing '/',
/// no newline (git_port keeps synced paths in a line-based record).
bool repo_relative(std::string_view path);

} // namespace montana
