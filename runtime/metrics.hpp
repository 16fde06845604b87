// A node's status in the Prometheus text exposition format (version 0.0.4): `GET /metrics`.
// Every metric is described in docs/operations.md ("Metrics").
#pragma once

#include "messages/messages.hpp"

#include <string>

namespace montana {

/// The metrics of `status`, one family after another, each with HELP and TYPE lines.
std::string render_metrics(const node_status& status);

} // namespace montana
