#include "runtime/shell_render.hpp"

#include "actors/breather.hpp"
#include "actors/introspection.hpp"
#include "messages/status_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <map>
#include <set>

namespace montana {

namespace {

constexpr size_t width = 80;

std::string paint(bool on, const char* code, const std::string& text) {
  return on ? std::string{"\033["} + code + "m" + text + "\033[0m" : text;
}

/// `text` cut to `n` characters (with "…" as "..." when cut).
std::string fit(const std::string& text, size_t n) {
  if (text.size() <= n)
    return text;
  return n <= 3 ? text.substr(0, n) : text.substr(0, n - 3) + "...";
}

/// `text` padded to `n` columns, then styled: padding is computed before escape codes are added.
std::string cell(const std::string& text, size_t n,
                 const std::function<std::string(const std::string&)>& style = {}) {
  auto shown = fit(text, n);
  auto pad = std::string(n - shown.size(), ' ');
  return (style ? style(shown) : shown) + pad;
}

/// UTC "HH:MM:SS.mmm".
std::string clock_time(int64_t unix_us) {
  auto seconds = static_cast<std::time_t>(unix_us / 1000000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  return fmt::format("{:02}:{:02}:{:02}.{:03}", tm.tm_hour, tm.tm_min, tm.tm_sec,
                     unix_us / 1000 % 1000);
}

std::string ms(int64_t us) {
  return fmt::format("{:.1f} ms", static_cast<double>(us) / 1000.0);
}

std::function<std::string(const std::string&)> verdict_style(verdict v, const text_style& st) {
  return [v, &st](const std::string& text) {
    switch (v) {
    case verdict::alive:
      return st.good(text);
    case verdict::suspect:
      return st.warn(text);
    case verdict::dead:
      return st.bad(text);
    case verdict::unknown:
      break;
    }
    return st.dim(text);
  };
}

std::string styled_verdict(verdict v, const text_style& st) {
  return verdict_style(v, st)(to_string(v));
}

std::string role_text(const duty_status& d) {
  auto text = to_string(d.role) + ", term " + std::to_string(d.term);
  if (d.leaving)
    text += ", leaving";
  else if (d.stepped_down)
    text += ", stepped down";
  return text;
}

std::string styled_role(const duty_status& d, const text_style& st) {
  auto text = role_text(d);
  if (d.role == duty_role::holder)
    return st.good(st.bold(text));
  if (d.stepped_down || d.leaving)
    return st.warn(text);
  return text;
}

std::string process_line(const process_status& p, const text_style& st) {
  std::string line;
  if (p.pid != 0)
    line = "process " + std::to_string(p.pid) + " " + p.phase + " for " +
           age(st.now_us - p.started_us);
  else
    line = "no process (" + p.phase + ")";
  line += "; " + std::to_string(p.starts) + (p.starts == 1 ? " start, " : " starts, ") +
          std::to_string(p.restarts) + (p.restarts == 1 ? " restart" : " restarts");
  return line;
}

const char* letter(verdict v) {
  switch (v) {
  case verdict::alive:
    return "A";
  case verdict::suspect:
    return "S";
  case verdict::dead:
    return "D";
  case verdict::unknown:
    break;
  }
  return "?";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "nobody" : out;
}

/// Whether a verdict counts as "it lives" when comparing nodes' views.
bool lives(verdict v) {
  return v == verdict::alive || v == verdict::suspect;
}

} // namespace

std::string text_style::good(const std::string& text) const {
  return paint(color, "32", text);
}
std::string text_style::bad(const std::string& text) const {
  return paint(color, "31", text);
}
std::string text_style::warn(const std::string& text) const {
  return paint(color, "33", text);
}
std::string text_style::bold(const std::string& text) const {
  return paint(color, "1", text);
}
std::string text_style::dim(const std::string& text) const {
  return paint(color, "2", text);
}

std::string age(int64_t us) {
  auto s = std::max<int64_t>(0, us / 1000000);
  if (s < 60)
    return std::to_string(s) + "s";
  if (s < 3600)
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400)
    return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string render_status(const node_status& s, const text_style& st) {
  std::string out;
  out += st.bold("node " + s.node) + "  montana-actors " + s.version + "  up " +
         age(s.now_us - s.started_us) + "  incarnation " + incarnation_text(s.incarnation) + "\n";
  for (const auto& d : s.duties) {
    out += "duty " + st.bold(d.duty) + ": " + styled_role(d, st) + " for " +
           age(s.now_us - d.role_since_us) + " (" + fit(d.reason, 40) + ")\n";
    out += "  " + process_line(d.process, st) + "\n";
    if (!d.pending.empty())
      out += "  claim waits for: " + join(d.pending) + "\n";
  }
  if (s.duties.empty())
    out += "duties: none on this node\n";
  out += st.dim("  peer         verdict  link     since    reason") + "\n";
  for (const auto& p : s.peers) {
    auto link = std::find_if(s.links.begin(), s.links.end(),
                             [&](const link_status& l) { return l.node == p.node; });
    auto linked = link != s.links.end() && link->linked;
    out += "  " + cell(p.node, 13) + cell(to_string(p.value), 9, verdict_style(p.value, st)) +
           cell(linked ? "linked" : "-", 9) +
           cell(p.since_us == 0 ? "-" : age(s.now_us - p.since_us), 9) + fit(p.reason, 36) + "\n";
  }
  // Why a link is missing: the dialer's last problem, or why it was lost.
  for (const auto& l : s.links)
    if (!l.linked && !l.problem.empty())
      out += "  " +
             st.warn(fit("no link to " + l.node + (l.dialer ? " (we dial): " : ": ") + l.problem,
                         width - 2)) +
             "\n";
  if (s.breath.enabled) {
    const auto& b = s.breath;
    out += "breath: " + std::to_string(b.breaths) + " breaths, " + std::to_string(b.failures) +
           " failed, " + std::to_string(b.conflicts) + " conflicts";
    if (b.last.seq != 0)
      out += "; last #" + std::to_string(b.last.seq) + " " +
             (b.last.ok ? st.good("ok") : st.bad("failed at " + b.last.failed_step)) + " " +
             ms(b.last.total_us) + ", " + age(s.now_us - b.last.started_us) + " ago";
    out += "\n";
  } else {
    out += "breath: off (no [breath] repo)\n";
  }
  out += "refused: " + std::to_string(s.tls_refusals) + " connections, " +
         std::to_string(s.version_refusals) + " links for their protocol version, " +
         std::to_string(s.shell_refusals) + " shells\n";
  return out;
}

std::string render_cluster(const std::vector<node_view>& views, const text_style& st) {
  std::vector<std::string> nodes;
  std::vector<std::string> duties;
  for (const auto& v : views) {
    nodes.push_back(v.node);
    if (v.reachable)
      for (const auto& d : v.status.duties)
        if (std::find(duties.begin(), duties.end(), d.duty) == duties.end())
          duties.push_back(d.duty);
  }
  // verdicts[subject][viewer]
  std::map<std::string, std::map<std::string, verdict>> verdicts;
  for (const auto& v : views)
    if (v.reachable)
      for (const auto& p : v.status.peers)
        verdicts[p.node][v.node] = p.value;
  // A subject is disputed when one reachable node thinks it lives and another that it is dead.
  std::set<std::string> disputed;
  for (const auto& [subject, by] : verdicts) {
    bool alive = false;
    bool dead = false;
    for (const auto& [viewer, v] : by) {
      alive |= lives(v);
      dead |= v == verdict::dead;
    }
    if (alive && dead)
      disputed.insert(subject);
  }
  std::string out = st.dim(cell("node", 14));
  for (const auto& d : duties)
    out += st.dim(cell(d, 18));
  out += st.dim(" sees:");
  for (const auto& n : nodes)
    out += st.dim(" " + cell(n.substr(0, 2), 2));
  out += "\n";
  std::map<std::string, std::vector<std::string>> holders;
  for (const auto& v : views) {
    out += cell(v.node, 14);
    if (!v.reachable) {
      out += st.bad(fit("unreachable: " + v.error, width - 14)) + "\n";
      continue;
    }
    for (const auto& d : duties) {
      auto i = std::find_if(v.status.duties.begin(), v.status.duties.end(),
                            [&](const duty_status& x) { return x.duty == d; });
      if (i == v.status.duties.end()) {
        out += cell("-", 18);
        continue;
      }
      if (i->role == duty_role::holder)
        holders[d].push_back(v.node);
      auto text = to_string(i->role) + " t" + std::to_string(i->term) +
                  (i->stepped_down || i->leaving ? " out" : "");
      out += cell(text, 18, [&](const std::string& t) {
        return i->role == duty_role::holder ? st.good(st.bold(t))
               : i->stepped_down            ? st.warn(t)
                                            : t;
      });
    }
    out += "      ";
    for (const auto& n : nodes) {
      if (n == v.node) {
        out += " . ";
        continue;
      }
      auto seen = verdicts[n].find(v.node);
      auto value = seen == verdicts[n].end() ? verdict::unknown : seen->second;
      auto mark = std::string{letter(value)} + (disputed.count(n) ? "!" : " ");
      out += " " + (disputed.count(n) ? st.bad(mark) : verdict_style(value, st)(mark));
    }
    out += "\n";
  }
  for (const auto& d : duties) {
    const auto& h = holders[d];
    if (h.size() == 1)
      out += "duty " + d + ": held by " + st.good(h[0]) + "\n";
    else if (h.empty())
      out += st.warn("! duty " + d + ": no reachable node holds it") + "\n";
    else
      out +=
          st.bad("! duty " + d + ": " + std::to_string(h.size()) + " holders: " + join(h)) + "\n";
  }
  for (const auto& subject : disputed) {
    std::vector<std::string> alive_for;
    std::vector<std::string> dead_for;
    for (const auto& [viewer, v] : verdicts[subject]) {
      if (lives(v))
        alive_for.push_back(viewer);
      else if (v == verdict::dead)
        dead_for.push_back(viewer);
    }
    out += st.bad(fit("! " + subject + ": alive for " + join(alive_for) + "; dead for " +
                          join(dead_for),
                      width)) +
           "\n";
  }
  return out;
}

std::string render_chain(const node_status& self, const std::vector<node_view>& views,
                         const std::string& duty, const text_style& st) {
  std::string out;
  for (const auto& d : self.duties) {
    if (!duty.empty() && d.duty != duty)
      continue;
    out += "duty " + st.bold(d.duty) + " as " + self.node + " sees it:\n";
    out += st.dim("  #  node          its own role                 " + self.node + "'s verdict") +
           "\n";
    std::string expected;
    int rank = 0;
    for (const auto& m : d.chain) {
      ++rank;
      std::string role = "unreachable";
      auto v = std::find_if(views.begin(), views.end(),
                            [&](const node_view& x) { return x.node == m.node; });
      if (v != views.end() && v->reachable) {
        auto own = std::find_if(v->status.duties.begin(), v->status.duties.end(),
                                [&](const duty_status& x) { return x.duty == d.duty; });
        if (own != v->status.duties.end())
          role = role_text(*own);
      }
      auto is_self = m.node == self.node;
      if (expected.empty() && m.value != verdict::dead && !m.stepped_down)
        expected = m.node;
      out += "  " + cell(std::to_string(rank), 3) + cell(m.node, 14) +
             cell(role, 29,
                  [&](const std::string& t) {
                    return t.rfind("holder", 0) == 0 ? st.good(st.bold(t)) : t;
                  }) +
             (is_self ? st.dim("(this node)")
                      : styled_verdict(m.value, st) + (m.stepped_down ? ", stepped down" : "")) +
             "\n";
    }
    out += "expected holder: " +
           (expected.empty() ? st.bad("none (every node dead or stepped down)") : expected) +
           " (the first node neither dead nor stepped down)\n";
  }
  if (out.empty())
    out = duty.empty() ? "this node takes part in no duty\n"
                       : "this node takes no part in duty '" + duty + "'\n";
  return out;
}

std::string render_probes(const std::vector<probe_status>& probes, const std::string& peer,
                          const text_style& st) {
  std::string out;
  auto now = st.now_us;
  if (peer.empty()) {
    out += st.dim("  peer         verdict  since    link    rounds  failed  host") + "\n";
    for (const auto& p : probes) {
      std::string bar;
      for (const auto& h : p.history)
        bar += h.ok ? "+" : "-";
      out += "  " + cell(p.node, 13) + cell(to_string(p.value), 9, verdict_style(p.value, st)) +
             cell(p.since_us == 0 ? "-" : age(now - p.since_us), 9) +
             cell(p.linked ? "linked" : "-", 8) + cell(std::to_string(p.rounds), 8) +
             cell(std::to_string(p.failures), 8) +
             (!p.host_checked  ? "-"
              : p.host_answers ? "answers"
                               : st.warn("silent")) +
             "\n";
      out += "    " + st.dim(fit(bar, 32)) + " " + fit(p.reason, 42) + "\n";
    }
    return out;
  }
  auto i = std::find_if(probes.begin(), probes.end(),
                        [&](const probe_status& p) { return p.node == peer; });
  if (i == probes.end())
    return "no probe of '" + peer + "' on this node\n";
  const auto& p = *i;
  auto since = p.since_us == 0 ? std::string{} : " for " + age(now - p.since_us);
  out += "probe " + st.bold(p.node) + ": " + styled_verdict(p.value, st) + since + "\n";
  out += "  because: " + fit(p.reason, width - 11) + "\n";
  out += "  link: " + std::string{p.linked ? "up" : "down"} + "; " + std::to_string(p.rounds) +
         " rounds, " + std::to_string(p.failures) + " failed\n";
  out += "  host: " +
         (!p.host_checked  ? std::string{"not checked yet"}
          : p.host_answers ? "answers" + (p.host_detail.empty() ? "" : " (" + p.host_detail + ")")
                           : st.warn("does not answer") + " (" + p.host_detail + ")") +
         "\n";
  out += st.dim("  time (UTC)    result  rtt       verdict  reason") + "\n";
  for (const auto& h : p.history)
    out += "  " + cell(clock_time(h.at_us), 14) +
           cell(h.ok ? "ok" : "failed", 8,
                [&](const std::string& t) { return h.ok ? st.good(t) : st.bad(t); }) +
           cell(ms(h.rtt_us), 10) + cell(to_string(h.value), 9, verdict_style(h.value, st)) +
           fit(h.reason, 36) + "\n";
  return out;
}

std::string render_actors(const std::vector<actor_info>& actors, const text_style& st) {
  std::string out =
      st.dim("    id  kind            name                              handled  errors") + "\n";
  for (const auto& a : actors)
    out +=
        fmt::format("  {:>4}  ", a.id) + cell(a.kind, 16) + cell(a.name, 32) +
        fmt::format("{:>9}  ", a.handled) +
        (a.errors > 0 ? st.warn(fmt::format("{:>6}", a.errors)) : fmt::format("{:>6}", a.errors)) +
        "\n";
  return out;
}

std::string render_actor(const actor_info& a, const text_style& st) {
  std::string out = st.bold(a.name) + " (" + a.kind + ", id " + std::to_string(a.id) + ")\n";
  out += "  messages handled: " + std::to_string(a.handled) + "\n";
  out += "  errors: " + std::to_string(a.errors) + "\n";
  size_t key_width = 0;
  for (const auto& f : a.state)
    key_width = std::max(key_width, f.key.size());
  key_width = std::min<size_t>(key_width, 22);
  for (const auto& f : a.state)
    out += "  " + cell(f.key + ":", key_width + 2) + fit(f.value, width - key_width - 4) + "\n";
  return out;
}

std::string render_breaths(const std::vector<breath_report>& breaths, const text_style& st) {
  if (breaths.empty())
    return "no breath yet\n";
  std::string out;
  for (const auto& b : breaths) {
    auto line = clock_time(b.started_us) + " " + describe(b);
    out += (b.ok ? line : st.bad(line)) + "\n";
  }
  return out;
}

std::string render_duties(const node_status& s, const text_style& st) {
  std::string out;
  for (const auto& d : s.duties) {
    const auto& p = d.process;
    out += "duty " + st.bold(d.duty) + ": " + styled_role(d, st) + "\n";
    out += "  " + process_line(p, st) + "\n";
    if (p.started_us != 0)
      out += "  started " + clock_time(p.started_us) + " UTC\n";
    out += "  last exit: " + (p.last_exit.empty() ? std::string{"none"} : p.last_exit) + "\n";
    if (!p.output.empty()) {
      out += "  output (last " + std::to_string(p.output.size()) + " lines):\n";
      for (const auto& line : p.output)
        out += "    " + fit(line, width - 4) + "\n";
    }
  }
  if (out.empty())
    out = "this node takes part in no duty\n";
  return out;
}

std::string render_event(const node_event& e, const text_style& st) {
  auto head = clock_time(e.at_us) + " " + cell(to_string(e.kind), 8);
  auto text =
      e.kind == event_kind::role || e.kind == event_kind::duty || e.kind == event_kind::action
          ? e.subject + ": " + e.text
          : e.text;
  if (e.kind == event_kind::role && text.find("-> holder") != std::string::npos)
    text = st.good(text);
  else if (text.find("dead") != std::string::npos || text.find("failed") != std::string::npos ||
           text.find("lost") != std::string::npos)
    text = st.bad(text);
  return st.dim(head) + text + "\n";
}

std::string render_log_line(const log_line& l, const text_style& st) {
  auto head = clock_time(l.at_us) + " " + cell(l.level, 8);
  auto text = l.text;
  if (l.level == "warning")
    text = st.warn(text);
  else if (l.level == "error" || l.level == "critical")
    text = st.bad(text);
  return st.dim(head) + text + "\n";
}

std::string render_action(const action_result& r, const text_style& st) {
  return (r.ok ? r.text : st.bad(r.text)) + "\n";
}

} // namespace montana
