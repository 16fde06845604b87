#include "runtime/metrics.hpp"

#include "actors/breather.hpp"

#include <fmt/format.h>

#include <initializer_list>
#include <utility>

namespace montana {

namespace {

/// A label value with `\`, `"` and newlines escaped, as the format demands.
std::string escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

using labels = std::initializer_list<std::pair<const char*, std::string>>;

class writer {
public:
  void family(const char* name, const char* type, const char* help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }

  template <class Value>
  void sample(const std::string& name, labels ls, Value value) {
    out_ += name;
    if (ls.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, v] : ls) {
        out_ += fmt::format("{}{}=\"{}\"", first ? "" : ",", key, escape(v));
        first = false;
      }
      out_ += '}';
    }
    out_ += fmt::format(" {}\n", value);
  }

  std::string text() && { return std::move(out_); }

private:
  std::string out_;
};

double seconds(int64_t us) {
  return static_cast<double>(us) / 1e6;
}

} // namespace

std::string render_metrics(const node_status& s) {
  writer w;
  w.family("montana_node_info", "gauge", "Always 1; the labels name the node and its version.");
  w.sample("montana_node_info", {{"node", s.node}, {"version", s.version}}, 1);
  w.family("montana_node_uptime_seconds", "gauge", "Time since this node started.");
  w.sample("montana_node_uptime_seconds", {}, seconds(s.now_us - s.started_us));

  w.family("montana_duty_role", "gauge",
           "1 for the role this node has for the duty, 0 for the others.");
  for (const auto& d : s.duties)
    for (auto role :
         {duty_role::standby, duty_role::claiming, duty_role::holder, duty_role::releasing})
      w.sample("montana_duty_role", {{"duty", d.duty}, {"role", to_string(role)}},
               d.role == role ? 1 : 0);
  w.family("montana_duty_term", "gauge",
           "The term this node holds, claims or releases under; in standby the highest seen.");
  for (const auto& d : s.duties)
    w.sample("montana_duty_term", {{"duty", d.duty}}, d.term);
  w.family("montana_duty_stepped_down", "gauge",
           "1 while an operator has stepped this node down from the duty (or it is leaving).");
  for (const auto& d : s.duties)
    w.sample("montana_duty_stepped_down", {{"duty", d.duty}}, d.stepped_down || d.leaving ? 1 : 0);
  w.family("montana_duty_failovers_total", "counter",
           "Times this node became the duty's holder since it started (failovers and hand-backs).");
  for (const auto& d : s.duties)
    w.sample("montana_duty_failovers_total", {{"duty", d.duty}}, d.takeovers);
  w.family("montana_duty_role_changes_total", "counter", "Role changes since start.");
  for (const auto& d : s.duties)
    w.sample("montana_duty_role_changes_total", {{"duty", d.duty}}, d.role_changes);
  w.family("montana_duty_seconds_since_role_change", "gauge",
           "Time since this node's role for the duty last changed (or since start).");
  for (const auto& d : s.duties)
    w.sample("montana_duty_seconds_since_role_change", {{"duty", d.duty}},
             seconds(s.now_us - d.role_since_us));
  w.family("montana_duty_process_running", "gauge",
           "1 while the duty's process runs on this node.");
  for (const auto& d : s.duties)
    w.sample("montana_duty_process_running", {{"duty", d.duty}}, d.process.pid != 0 ? 1 : 0);
  w.family("montana_duty_process_starts_total", "counter",
           "Processes of the duty this node started.");
  for (const auto& d : s.duties)
    w.sample("montana_duty_process_starts_total", {{"duty", d.duty}}, d.process.starts);
  w.family("montana_duty_restarts_total", "counter",
           "Restarts after the duty's process exited unexpectedly or failed to start.");
  for (const auto& d : s.duties)
    w.sample("montana_duty_restarts_total", {{"duty", d.duty}}, d.process.restarts);

  w.family("montana_peer_verdict", "gauge",
           "1 for this node's verdict on the peer, 0 for the other verdicts.");
  for (const auto& p : s.peers)
    for (auto v : {verdict::unknown, verdict::alive, verdict::suspect, verdict::dead})
      w.sample("montana_peer_verdict", {{"peer", p.node}, {"verdict", to_string(v)}},
               p.value == v ? 1 : 0);
  w.family("montana_peer_linked", "gauge", "1 while this node has a proven link to the peer.");
  for (const auto& l : s.links)
    w.sample("montana_peer_linked", {{"peer", l.node}}, l.linked ? 1 : 0);
  w.family("montana_peer_links_total", "counter", "Times the link to the peer came up.");
  for (const auto& l : s.links)
    w.sample("montana_peer_links_total", {{"peer", l.node}}, l.links);
  w.family("montana_probe_rounds_total", "counter", "Check rounds of the peer's probe.");
  for (const auto& p : s.peers)
    w.sample("montana_probe_rounds_total", {{"peer", p.node}}, p.rounds);
  w.family("montana_probe_failures_total", "counter", "Failed check rounds of the peer's probe.");
  for (const auto& p : s.peers)
    w.sample("montana_probe_failures_total", {{"peer", p.node}}, p.failures);

  if (s.breath.enabled) {
    const auto& b = s.breath;
    w.family("montana_breath_duration_seconds", "histogram", "Duration of each breath.");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < breath_buckets_ms.size(); ++i) {
      cumulative += i < b.buckets.size() ? b.buckets[i] : 0;
      w.sample("montana_breath_duration_seconds_bucket",
               {{"le", fmt::format("{}", static_cast<double>(breath_buckets_ms[i]) / 1000.0)}},
               cumulative);
    }
    w.sample("montana_breath_duration_seconds_bucket", {{"le", "+Inf"}}, b.breaths);
    w.sample("montana_breath_duration_seconds_sum", {}, seconds(b.total_us));
    w.sample("montana_breath_duration_seconds_count", {}, b.breaths);
    w.family("montana_breath_failures_total", "counter", "Breaths that failed at some step.");
    w.sample("montana_breath_failures_total", {}, b.failures);
    w.family("montana_breath_conflicts_total", "counter",
             "Same-key conflicts the breaths found (the remote's value kept, ours copied).");
    w.sample("montana_breath_conflicts_total", {}, b.conflicts);
    w.family("montana_breath_last_success_timestamp_seconds", "gauge",
             "Unix time of the start of the latest breath that went through (0: none yet).");
    w.sample("montana_breath_last_success_timestamp_seconds", {}, seconds(b.last_ok_us));
  }

  w.family("montana_tls_refusals_total", "counter",
           "Connections to the channel this node refused (beyond its limits of unauthenticated "
           "connections, or a failed TLS handshake: old TLS, no or an unregistered certificate).");
  w.sample("montana_tls_refusals_total", {}, s.tls_refusals);
  w.family("montana_link_version_refusals_total", "counter",
           "Links not made because the other node speaks an incompatible protocol version.");
  w.sample("montana_link_version_refusals_total", {}, s.version_refusals);
  w.family("montana_shell_refusals_total", "counter",
           "Connections to the shell socket refused (too many shells at once).");
  w.sample("montana_shell_refusals_total", {}, s.shell_refusals);
  return std::move(w).text();
}

} // namespace montana
