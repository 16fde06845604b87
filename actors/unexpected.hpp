// What every actor does with messages it does not expect.
#pragma once

#include "actors/introspection.hpp"

#include <caf/all.hpp>

#include <string>

namespace montana {

/// Installs handlers that log and drop unexpected messages (a peer's unknown or
/// malformed message, a stray reply) and stray errors: they never kill `self`.
/// At most one line per 10 s per actor, with a count of what was dropped since. Each one counts
/// as an error in `counters`, which must outlive the actor's behavior.
void drop_unexpected(caf::scheduled_actor* self, std::string tag, actor_counters& counters);

} // namespace montana
