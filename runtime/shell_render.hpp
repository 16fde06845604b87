// The shell's plain output: each answer as text that fits an 80-column terminal, with colour
// only when asked for (a TTY without NO_COLOR).
#pragma once

#include "messages/messages.hpp"

#include <string>
#include <vector>

namespace montana {

/// How plain output looks.
struct text_style {
  bool color = false;
  /// Wall clock (us) that ages ("3m12s ago") are measured from.
  int64_t now_us = 0;

  std::string good(const std::string& text) const;
  std::string bad(const std::string& text) const;
  std::string warn(const std::string& text) const;
  std::string bold(const std::string& text) const;
  std::string dim(const std::string& text) const;
};

/// "3m12s", "2h05m", "4d03h"; "0s" for anything under a second.
std::string age(int64_t microseconds);

/// `shell status`: this node's duties, peers, links, breathing and refusals.
std::string render_status(const node_status& s, const text_style& st);

/// `shell cluster`: one row per node, each node's own role per duty and its verdicts on the
/// others side by side; what the nodes disagree on is marked and listed below the table.
std::string render_cluster(const std::vector<node_view>& views, const text_style& st);

/// `shell chain [DUTY]`: the duty's chain in priority order with each node's own role (from
/// `views`) and this node's verdicts.
std::string render_chain(const node_status& self, const std::vector<node_view>& views,
                         const std::string& duty, const text_style& st);

/// `shell probes [PEER]`: one line per peer, or one peer with its recent rounds.
std::string render_probes(const std::vector<probe_status>& probes, const std::string& peer,
                          const text_style& st);

/// `shell actors`: one row per actor.
std::string render_actors(const std::vector<actor_info>& actors, const text_style& st);

/// `shell actor NAME`: one actor's counters and state.
std::string render_actor(const actor_info& actor, const text_style& st);

/// `shell breath`: the recent breaths, newest last.
std::string render_breaths(const std::vector<breath_report>& breaths, const text_style& st);

/// `shell duty`: each duty's process, with its last lines of output.
std::string render_duties(const node_status& s, const text_style& st);

std::string render_event(const node_event& e, const text_style& st);
std::string render_log_line(const log_line& l, const text_style& st);
std::string render_action(const action_result& r, const text_style& st);

} // namespace montana
