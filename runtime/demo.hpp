// `montana-actors demo`: five in-process nodes on 127.0.0.1-127.0.0.5 and a prompt.
#pragma once

#include "runtime/config.hpp"

#include <cstdint>
#include <iosfwd>

namespace montana {

/// The demo cluster: the five seed names on 127.0.0.1-5:`port` and one duty `demo`
/// whose process prints a line every two seconds. `fast` uses the fast probe profile.
config demo_config(uint16_t port, bool fast);

/// Runs the demo over TLS with identities made for the occasion, until `quit` or end of input;
/// commands come from `in`, answers go to `out`.
int run_demo(config cfg, std::istream& in, std::ostream& out);

} // namespace montana
