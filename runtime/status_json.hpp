// The machine-readable form of the introspection messages: `shell --json` and `GET /status`.
// Keys are stable (docs/operations.md, "Shell JSON"); times are UTC RFC 3339 strings with
// milliseconds, or null when unknown; durations are numbers with their unit in the key.
#pragma once

#include "messages/messages.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace montana {

using json = nlohmann::ordered_json;

/// "2026-12-02T18:45:28.123Z"; empty for 0.
std::string rfc3339(int64_t unix_us);

json to_json(const node_status& x);
json to_json(const link_status& x);
json to_json(const probe_sample& x);
json to_json(const chain_member& x);
json to_json(const process_status& x);
json to_json(const state_field& x);
json to_json(const probe_status& x);
json to_json(const duty_status& x);
json to_json(const breath_report& x);
json to_json(const breath_status& x);
json to_json(const actor_info& x);
json to_json(const node_view& x);
json to_json(const node_event& x);
json to_json(const log_line& x);
json to_json(const action_result& x);

/// A JSON array of to_json of each element.
template <class T>
json to_json(const std::vector<T>& xs) {
  auto out = json::array();
  for (const auto& x : xs)
    out.push_back(to_json(x));
  return out;
}

} // namespace montana
