// The JSON form of the status types: `shell --json`, `GET /status`, the operator shell's socket
// and a node's answer to another node's status query all carry this one document. Keys are
// stable (docs/reference.md, "Shell JSON"); times are UTC RFC 3339 strings with milliseconds, or
// null when unknown; durations are numbers with their unit in the key.
//
// `to_json(x)` writes a document; `j.get<T>()` (the `from_json` overloads, found by nlohmann's
// lookup) reads one back. Reading is strict about types and the keys every version writes, and
// ignores keys it does not know: a newer minor version may add some. It throws
// nlohmann::json::exception on anything else.
#pragma once

#include "messages/messages.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace montana {

using json = nlohmann::ordered_json;

/// "2026-12-02T18:45:28.123Z"; empty for 0.
std::string rfc3339(int64_t unix_us);

/// The inverse of rfc3339 (millisecond precision); throws std::invalid_argument.
int64_t parse_rfc3339(const std::string& text);

/// A node's incarnation as shown to operators: 16 hex digits.
std::string incarnation_text(uint64_t incarnation);

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

void from_json(const json& j, node_status& x);
void from_json(const json& j, link_status& x);
void from_json(const json& j, probe_sample& x);
void from_json(const json& j, chain_member& x);
void from_json(const json& j, process_status& x);
void from_json(const json& j, state_field& x);
void from_json(const json& j, probe_status& x);
void from_json(const json& j, duty_status& x);
void from_json(const json& j, breath_report& x);
void from_json(const json& j, breath_status& x);
void from_json(const json& j, actor_info& x);
void from_json(const json& j, node_view& x);
void from_json(const json& j, node_event& x);
void from_json(const json& j, log_line& x);
void from_json(const json& j, action_result& x);

} // namespace montana
