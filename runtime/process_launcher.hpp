// The real launcher: duty processes on Boost.Process v1 (see actors/launcher.hpp
// for the contract).
#pragma once

#include "actors/launcher.hpp"

#include <memory>

namespace montana {

/// Spawns, watches and signals child processes from one dedicated I/O thread.
///
/// Every spawn happens on that thread, which lives as long as the launcher:
/// Boost.Process pipes lack O_CLOEXEC (a spawn from another thread would leak
/// them into the child), and PR_SET_PDEATHSIG fires when the *forking thread*
/// ends. Each child leads its own process group and gets SIGKILL when this
/// process dies, so a crashed service never leaves an orphan poller behind.
///
/// Exits are detected through Asio's SIGCHLD handler: nothing else in the
/// process may touch SIGCHLD — no SIG_IGN, no other handler, no waitpid(-1)
/// or wait() — or exits go unnoticed and stops hang.
class process_launcher final : public launcher {
public:
  process_launcher();

  /// SIGKILLs every remaining group, reaps what dies within a short deadline
  /// and joins the I/O thread; it never blocks on a process that will not die.
  ~process_launcher() override;

  process_launcher(const process_launcher&) = delete;
  process_launcher& operator=(const process_launcher&) = delete;

  void start(uint64_t id, launch_spec spec, caf::actor listener) override;

  /// kill(-pgid, sig): the group only, never a process found by name.
  void signal(uint64_t id, int sig) override;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace montana
