// What every actor does with messages it does not expect.
#pragma once

#include <caf/all.hpp>

#include <string>

namespace montana {

/// Installs handlers that log and drop unexpected messages (a peer's unknown or
/// malformed message, a stray reply) and stray errors: they never kill `self`.
/// At most one line per 10 s per actor, with a count of what was dropped since.
void drop_unexpected(caf::event_based_actor* self, std::string tag);

} // namespace montana
