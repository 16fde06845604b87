// The network half of a breath — one fetch or one push of a clone — in a child process that is
// killed at a deadline or on request. libgit2 1.5 has no network timeout: a remote that accepts
// and never answers, or stalls mid-pack, holds a fetch forever.
//
// Why a child process and not a stream registered with git_stream_register: a registered
// stream serves only what libgit2 reads through its stream layer (git://, http(s)); its SSH
// transport hands the socket of its own socket stream to libssh2, which blocks on it with no
// timeout libgit2 sets (and casts whatever stream it got to its own type). A child bounds every
// transport the same way, and killing it releases the socket, the memory and any lock it held
// at once; the parent's thread is never stuck, so SIGTERM ends the service within its bound.
// The cost is one exec per fetch or push (a small program linking libgit2 only, ≈ 2 ms).
//
// The child is `montana-git-transfer` (runtime/transfer/main.cpp): found through
// $MONTANA_GIT_TRANSFER, else next to the running program, else in
// /usr/lib/montana-actors/. It runs in a process group of its own with PDEATHSIG, inherits no
// descriptor but its pipes, and answers with one line.
#pragma once

#include "actors/settings.hpp"

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace montana {

/// Where the transfer program is (see the top of this file).
std::string transfer_helper();

/// Runs transfers of one clone, one at a time; `interrupt` may come from any thread.
class git_transfer {
public:
  explicit git_transfer(std::string helper = transfer_helper());
  ~git_transfer();
  git_transfer(const git_transfer&) = delete;
  git_transfer& operator=(const git_transfer&) = delete;

  /// Updates `refs/remotes/<remote>/<branch>` of the clone `settings.repo`. Throws git_failure
  /// with the child's one line, or "no answer within N ms" / "interrupted" after killing it.
  /// `stale` lists lock files a killed child may leave: removed after a kill.
  void fetch(const breath_settings& settings, std::chrono::milliseconds limit,
             const std::vector<std::string>& stale);

  /// Pushes local `<branch>`; false when the remote refused it as non-fast-forward.
  bool push(const breath_settings& settings, std::chrono::milliseconds limit,
            const std::vector<std::string>& stale);

  /// Kills the running transfer now (it fails as "interrupted"); a no-op when none runs.
  void interrupt();

private:
  /// The child's answer line ("ok", "non-fast-forward"); throws on anything else.
  std::string run(const std::string& verb, const breath_settings& settings,
                  std::chrono::milliseconds limit, const std::vector<std::string>& stale);

  std::string helper_;
  /// interrupt() writes a byte here; the waiting transfer polls the other end.
  int wake_[2] = {-1, -1};
  std::mutex mutex_;
  bool interrupted_ = false;
};

} // namespace montana
