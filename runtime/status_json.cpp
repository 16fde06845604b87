#include "runtime/status_json.hpp"

#include "actors/introspection.hpp"

#include <ctime>

namespace montana {

namespace {

json time_or_null(int64_t unix_us) {
  return unix_us == 0 ? json(nullptr) : json(rfc3339(unix_us));
}

} // namespace

std::string rfc3339(int64_t unix_us) {
  if (unix_us == 0)
    return {};
  auto seconds = static_cast<std::time_t>(unix_us / 1000000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[40];
  auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(unix_us / 1000 % 1000));
  return text;
}

json to_json(const link_status& x) {
  return {{"node", x.node},     {"linked", x.linked},
          {"dialer", x.dialer}, {"since", time_or_null(x.since_us)},
          {"links", x.links},   {"problem", x.problem}};
}

json to_json(const probe_sample& x) {
  return {{"at", rfc3339(x.at_us)},
          {"ok", x.ok},
          {"rtt_ms", static_cast<double>(x.rtt_us) / 1000.0},
          {"verdict", to_string(x.value)},
          {"reason", x.reason}};
}

json to_json(const chain_member& x) {
  return {{"node", x.node}, {"verdict", to_string(x.value)}, {"stepped_down", x.stepped_down}};
}

json to_json(const process_status& x) {
  return {{"phase", x.phase},         {"pid", x.pid == 0 ? json(nullptr) : json(x.pid)},
          {"term", x.term},           {"started", time_or_null(x.started_us)},
          {"starts", x.starts},       {"restarts", x.restarts},
          {"last_exit", x.last_exit}, {"output", x.output}};
}

json to_json(const state_field& x) {
  return {{"key", x.key}, {"value", x.value}};
}

json to_json(const probe_status& x) {
  json out{{"node", x.node},
           {"verdict", to_string(x.value)},
           {"reason", x.reason},
           {"linked", x.linked},
           {"since", time_or_null(x.since_us)},
           {"host_checked", x.host_checked},
           {"host_answers", x.host_answers},
           {"host_detail", x.host_detail},
           {"rounds", x.rounds},
           {"failures", x.failures}};
  if (!x.history.empty())
    out["history"] = to_json(x.history);
  return out;
}

json to_json(const duty_status& x) {
  return {{"duty", x.duty},
          {"role", to_string(x.role)},
          {"term", x.term},
          {"reason", x.reason},
          {"role_since", time_or_null(x.role_since_us)},
          {"stepped_down", x.stepped_down},
          {"leaving", x.leaving},
          {"chain", to_json(x.chain)},
          {"pending", x.pending},
          {"takeovers", x.takeovers},
          {"role_changes", x.role_changes},
          {"process", to_json(x.process)}};
}

json to_json(const breath_report& x) {
  return {{"seq", x.seq},
          {"started", time_or_null(x.started_us)},
          {"ok", x.ok},
          {"failed_step", x.failed_step},
          {"error", x.error},
          {"repaired", x.repaired},
          {"exhale_ms", static_cast<double>(x.exhale_us) / 1000.0},
          {"fetch_ms", static_cast<double>(x.fetch_us) / 1000.0},
          {"inhale_ms", static_cast<double>(x.inhale_us) / 1000.0},
          {"push_ms", static_cast<double>(x.push_us) / 1000.0},
          {"total_ms", static_cast<double>(x.total_us) / 1000.0},
          {"push_attempts", x.push_attempts},
          {"commits_in", x.commits_in},
          {"commits_out", x.commits_out},
          {"pending", x.pending},
          {"conflicts", x.conflicts},
          {"copies", x.copies},
          {"conflicts_total", x.conflicts_total},
          {"handover", x.handover},
          {"broken", x.broken},
          {"restored", x.restored},
          {"files_read", x.files_read}};
}

json to_json(const breath_status& x) {
  json out{{"enabled", x.enabled}};
  if (!x.enabled)
    return out;
  out["interval_ms"] = x.interval_ms;
  out["breaths"] = x.breaths;
  out["failures"] = x.failures;
  out["conflicts"] = x.conflicts;
  out["handovers"] = x.handovers;
  out["handover_failures"] = x.handover_failures;
  out["broken"] = x.broken;
  out["last_ok"] = time_or_null(x.last_ok_us);
  out["last"] = x.last.seq == 0 ? json(nullptr) : to_json(x.last);
  return out;
}

json to_json(const node_status& x) {
  return {{"node", x.node},
          {"version", x.version},
          {"incarnation", incarnation_text(x.incarnation)},
          {"started", time_or_null(x.started_us)},
          {"now", time_or_null(x.now_us)},
          {"duties", to_json(x.duties)},
          {"peers", to_json(x.peers)},
          {"links", to_json(x.links)},
          {"breath", to_json(x.breath)},
          {"tls_refusals", x.tls_refusals},
          {"shell_refusals", x.operator_refusals}};
}

json to_json(const actor_info& x) {
  return {{"name", x.name},       {"kind", x.kind},     {"id", x.id},
          {"handled", x.handled}, {"errors", x.errors}, {"state", to_json(x.state)}};
}

json to_json(const node_view& x) {
  json out{{"node", x.node}, {"reachable", x.reachable}};
  if (x.reachable)
    out["status"] = to_json(x.status);
  else
    out["error"] = x.error;
  return out;
}

json to_json(const node_event& x) {
  return {{"at", rfc3339(x.at_us)},
          {"node", x.node},
          {"kind", to_string(x.kind)},
          {"subject", x.subject},
          {"text", x.text}};
}

json to_json(const log_line& x) {
  return {{"at", rfc3339(x.at_us)}, {"level", x.level}, {"text", x.text}};
}

json to_json(const action_result& x) {
  return {{"ok", x.ok}, {"text", x.text}};
}

} // namespace montana
