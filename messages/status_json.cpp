#include "messages/status_json.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace montana {

namespace {

json time_or_null(int64_t unix_us) {
  return unix_us == 0 ? json(nullptr) : json(rfc3339(unix_us));
}

int64_t time_from(const json& j) {
  if (j.is_null())
    return 0;
  auto text = j.get<std::string>();
  return text.empty() ? 0 : parse_rfc3339(text);
}

double ms_of(int64_t us) {
  return static_cast<double>(us) / 1000.0;
}

int64_t us_of(const json& ms) {
  return std::llround(ms.get<double>() * 1000.0);
}

/// `j[key]` into `x` when present: keys a document may leave out.
template <class T>
void optional_key(const json& j, const char* key, T& x) {
  if (auto i = j.find(key); i != j.end() && !i->is_null())
    i->get_to(x);
}

template <class Enum>
Enum enum_from(const json& j, Enum last, const char* what) {
  auto text = j.get<std::string>();
  for (auto i = 0; i <= static_cast<int>(last); ++i)
    if (to_string(static_cast<Enum>(i)) == text)
      return static_cast<Enum>(i);
  throw std::invalid_argument(std::string{"unknown "} + what + " '" + text + "'");
}

} // namespace

int64_t parse_rfc3339(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  int used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis, &used) != 7 ||
      static_cast<size_t>(used) != text.size())
    throw std::invalid_argument("not an RFC 3339 time: '" + text + "'");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(::timegm(&tm)) * 1000000 + millis * 1000;
}

std::string incarnation_text(uint64_t incarnation) {
  char text[17];
  std::snprintf(text, sizeof text, "%016" PRIx64, incarnation);
  return text;
}

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
          {"rtt_ms", ms_of(x.rtt_us)},
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
          {"exhale_ms", ms_of(x.exhale_us)},
          {"fetch_ms", ms_of(x.fetch_us)},
          {"inhale_ms", ms_of(x.inhale_us)},
          {"push_ms", ms_of(x.push_us)},
          {"total_ms", ms_of(x.total_us)},
          {"push_attempts", x.push_attempts},
          {"commits_in", x.commits_in},
          {"commits_out", x.commits_out},
          {"pending", x.pending},
          {"conflicts", x.conflicts},
          {"copies", x.copies},
          {"conflicts_total", x.conflicts_total}};
}

json to_json(const breath_status& x) {
  json out{{"enabled", x.enabled}};
  if (!x.enabled)
    return out;
  out["interval_ms"] = x.interval_ms;
  out["breaths"] = x.breaths;
  out["failures"] = x.failures;
  out["conflicts"] = x.conflicts;
  out["buckets"] = x.buckets;
  out["total_ms"] = ms_of(x.total_us);
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
          {"version_refusals", x.version_refusals},
          {"shell_refusals", x.shell_refusals}};
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

void from_json(const json& j, link_status& x) {
  j.at("node").get_to(x.node);
  j.at("linked").get_to(x.linked);
  j.at("dialer").get_to(x.dialer);
  x.since_us = time_from(j.at("since"));
  j.at("links").get_to(x.links);
  j.at("problem").get_to(x.problem);
}

void from_json(const json& j, probe_sample& x) {
  x.at_us = time_from(j.at("at"));
  j.at("ok").get_to(x.ok);
  x.rtt_us = us_of(j.at("rtt_ms"));
  x.value = enum_from(j.at("verdict"), verdict::dead, "verdict");
  j.at("reason").get_to(x.reason);
}

void from_json(const json& j, chain_member& x) {
  j.at("node").get_to(x.node);
  x.value = enum_from(j.at("verdict"), verdict::dead, "verdict");
  j.at("stepped_down").get_to(x.stepped_down);
}

void from_json(const json& j, process_status& x) {
  j.at("phase").get_to(x.phase);
  x.pid = j.at("pid").is_null() ? 0 : j.at("pid").get<int32_t>();
  j.at("term").get_to(x.term);
  x.started_us = time_from(j.at("started"));
  j.at("starts").get_to(x.starts);
  j.at("restarts").get_to(x.restarts);
  j.at("last_exit").get_to(x.last_exit);
  j.at("output").get_to(x.output);
}

void from_json(const json& j, state_field& x) {
  j.at("key").get_to(x.key);
  j.at("value").get_to(x.value);
}

void from_json(const json& j, probe_status& x) {
  j.at("node").get_to(x.node);
  x.value = enum_from(j.at("verdict"), verdict::dead, "verdict");
  j.at("reason").get_to(x.reason);
  j.at("linked").get_to(x.linked);
  x.since_us = time_from(j.at("since"));
  j.at("host_checked").get_to(x.host_checked);
  j.at("host_answers").get_to(x.host_answers);
  j.at("host_detail").get_to(x.host_detail);
  j.at("rounds").get_to(x.rounds);
  j.at("failures").get_to(x.failures);
  optional_key(j, "history", x.history);
}

void from_json(const json& j, duty_status& x) {
  j.at("duty").get_to(x.duty);
  x.role = enum_from(j.at("role"), duty_role::releasing, "role");
  j.at("term").get_to(x.term);
  j.at("reason").get_to(x.reason);
  x.role_since_us = time_from(j.at("role_since"));
  j.at("stepped_down").get_to(x.stepped_down);
  j.at("leaving").get_to(x.leaving);
  j.at("chain").get_to(x.chain);
  j.at("pending").get_to(x.pending);
  j.at("takeovers").get_to(x.takeovers);
  j.at("role_changes").get_to(x.role_changes);
  j.at("process").get_to(x.process);
}

void from_json(const json& j, breath_report& x) {
  j.at("seq").get_to(x.seq);
  x.started_us = time_from(j.at("started"));
  j.at("ok").get_to(x.ok);
  j.at("failed_step").get_to(x.failed_step);
  j.at("error").get_to(x.error);
  j.at("repaired").get_to(x.repaired);
  x.exhale_us = us_of(j.at("exhale_ms"));
  x.fetch_us = us_of(j.at("fetch_ms"));
  x.inhale_us = us_of(j.at("inhale_ms"));
  x.push_us = us_of(j.at("push_ms"));
  x.total_us = us_of(j.at("total_ms"));
  j.at("push_attempts").get_to(x.push_attempts);
  j.at("commits_in").get_to(x.commits_in);
  j.at("commits_out").get_to(x.commits_out);
  j.at("pending").get_to(x.pending);
  j.at("conflicts").get_to(x.conflicts);
  j.at("copies").get_to(x.copies);
  j.at("conflicts_total").get_to(x.conflicts_total);
}

void from_json(const json& j, breath_status& x) {
  x = breath_status{};
  j.at("enabled").get_to(x.enabled);
  if (!x.enabled)
    return;
  j.at("interval_ms").get_to(x.interval_ms);
  j.at("breaths").get_to(x.breaths);
  j.at("failures").get_to(x.failures);
  j.at("conflicts").get_to(x.conflicts);
  optional_key(j, "buckets", x.buckets);
  if (auto i = j.find("total_ms"); i != j.end())
    x.total_us = us_of(*i);
  x.last_ok_us = time_from(j.at("last_ok"));
  optional_key(j, "last", x.last);
}

void from_json(const json& j, node_status& x) {
  j.at("node").get_to(x.node);
  j.at("version").get_to(x.version);
  auto incarnation = j.at("incarnation").get<std::string>();
  size_t used = 0;
  x.incarnation = std::stoull(incarnation, &used, 16);
  if (used != incarnation.size())
    throw std::invalid_argument("not an incarnation: '" + incarnation + "'");
  x.started_us = time_from(j.at("started"));
  x.now_us = time_from(j.at("now"));
  j.at("duties").get_to(x.duties);
  j.at("peers").get_to(x.peers);
  j.at("links").get_to(x.links);
  j.at("breath").get_to(x.breath);
  j.at("tls_refusals").get_to(x.tls_refusals);
  optional_key(j, "version_refusals", x.version_refusals);
  j.at("shell_refusals").get_to(x.shell_refusals);
}

void from_json(const json& j, actor_info& x) {
  j.at("name").get_to(x.name);
  j.at("kind").get_to(x.kind);
  j.at("id").get_to(x.id);
  j.at("handled").get_to(x.handled);
  j.at("errors").get_to(x.errors);
  j.at("state").get_to(x.state);
}

void from_json(const json& j, node_view& x) {
  j.at("node").get_to(x.node);
  j.at("reachable").get_to(x.reachable);
  if (x.reachable)
    j.at("status").get_to(x.status);
  else
    j.at("error").get_to(x.error);
}

void from_json(const json& j, node_event& x) {
  x.at_us = time_from(j.at("at"));
  j.at("node").get_to(x.node);
  x.kind = enum_from(j.at("kind"), event_kind::action, "event kind");
  j.at("subject").get_to(x.subject);
  j.at("text").get_to(x.text);
}

void from_json(const json& j, log_line& x) {
  x.at_us = time_from(j.at("at"));
  j.at("level").get_to(x.level);
  j.at("text").get_to(x.text);
}

void from_json(const json& j, action_result& x) {
  j.at("ok").get_to(x.ok);
  j.at("text").get_to(x.text);
}

} // namespace montana
