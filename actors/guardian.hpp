// guardian: the root of a node's supervision tree. Every core actor of the node joins it; it
// monitors them, and the first exit it was not told to expect makes the node fail fast: the
// duties' actors go first (each bot-supervisor SIGKILLs its duty's process group on its way
// out), then every other actor (the gateway's exit drops this node's links, so the other nodes
// judge it dead at once), then the node's owner learns why and ends the process. It also answers
// the health round of the systemd watchdog: healthy only while every member answers.
// docs/architecture.md, "Supervision".
#pragma once

#include "actors/settings.hpp"

#include <functional>
#include <string>

namespace montana {

struct guardian_params {
  /// This node's name, for the log.
  std::string self;
  /// How long the duties' actors may take to exit on a failure before the rest go anyway.
  duration duty_exit_bound{2000};
  /// Told once, on the guardian's thread, after the node failed: why. May be empty.
  std::function<void(const std::string&)> failed;
};

/// Spawns the guardian.
///   (register_atom, role, name, actor): supervise `actor` ("leader" and "supervisor" run
///       duties; any other role is exited after them on a failure);
///   (health_atom, caf::timespan bound) -> health_report: every member asked for its
///       actor_info at once, each within `bound`;
///   (inspect_atom) -> actor_info.
caf::actor spawn_guardian(caf::actor_system& sys, guardian_params params);

} // namespace montana
