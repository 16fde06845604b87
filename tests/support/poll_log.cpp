#include "support/poll_log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <sstream>

namespace montana::testing {

namespace {

using json = nlohmann::json;

std::string text_or_empty(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

bool is_get_updates(const json& j) {
  auto method = text_or_empty(j, "method");
  std::transform(method.begin(), method.end(), method.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return method == "getupdates";
}

poll_record record_of(const json& j,
                      const std::function<std::string(const std::string&)>& host_of) {
  poll_record r;
  auto peer = text_or_empty(j, "peer");
  auto host = host_of ? host_of(peer) : std::string{};
  auto named = text_or_empty(j, "node");
  r.node = !named.empty() ? named : !host.empty() ? host : peer;
  auto pid = text_or_empty(j, "pid");
  r.poller = !named.empty() && !pid.empty() ? named + "/" + pid : r.node;
  r.start_us = j.value("start_us", int64_t{0});
  return r;
}

} // namespace

std::vector<poll_record> parse_polls(const std::string& lines,
                                     const std::function<std::string(const std::string&)>& host_of,
                                     int64_t now_us) {
  std::map<int64_t, poll_record> open;
  std::vector<poll_record> out;
  std::istringstream in{lines};
  for (std::string line; std::getline(in, line);) {
    // The last line may be half written while we read.
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object() || !is_get_updates(j))
      continue;
    auto id = j.value("id", int64_t{-1});
    auto event = text_or_empty(j, "event");
    if (event == "start") {
      open[id] = record_of(j, host_of);
    } else if (event == "end") {
      auto r = record_of(j, host_of);
      r.end_us = j.value("end_us", r.start_us);
      auto status = j.find("status");
      r.status = status != j.end() && status->is_number_integer() ? status->get<int>() : 0;
      r.outcome = text_or_empty(j, "outcome");
      out.push_back(r);
      open.erase(id);
    }
  }
  for (auto& [id, r] : open) {
    r.end_us = std::max(now_us, r.start_us);
    r.outcome = "open";
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(),
            [](const poll_record& a, const poll_record& b) { return a.start_us < b.start_us; });
  return out;
}

std::vector<polling_session> polling_sessions(const std::vector<poll_record>& polls,
                                              int64_t join_us) {
  std::map<std::string, std::vector<polling_session>> by_poller;
  for (const auto& p : polls) {
    auto& list = by_poller[p.poller];
    if (!list.empty() && p.start_us < list.back().end_us + join_us)
      list.back().end_us = std::max(list.back().end_us, p.end_us);
    else
      list.push_back({p.poller, p.node, p.start_us, p.end_us});
  }
  std::vector<polling_session> out;
  for (auto& [poller, list] : by_poller)
    out.insert(out.end(), list.begin(), list.end());
  std::sort(out.begin(), out.end(), [](const polling_session& a, const polling_session& b) {
    return a.start_us < b.start_us;
  });
  return out;
}

poll_verdict judge_polls(const std::vector<poll_record>& polls, int64_t from_us, int64_t to_us,
                         int64_t join_us) {
  poll_verdict v;
  std::vector<std::pair<int64_t, int>> events;
  for (const auto& s : polling_sessions(polls, join_us)) {
    auto start = std::max(s.start_us, from_us);
    auto end = std::min(s.end_us, to_us);
    if (start >= end)
      continue;
    events.emplace_back(start, +1);
    events.emplace_back(end, -1);
  }
  // At equal times an end comes before a start: a hand-over in the same microsecond is no
  // overlap.
  std::sort(events.begin(), events.end());
  int now = 0;
  int64_t last = from_us;
  int64_t overlap_since = 0;
  for (const auto& [at, delta] : events) {
    if (now == 0)
      v.longest_gap_us = std::max(v.longest_gap_us, at - last);
    if (now >= 2)
      v.overlap_us += at - last;
    auto before = now;
    now += delta;
    if (before < 2 && now >= 2)
      overlap_since = at;
    if (before >= 2 && now < 2)
      v.longest_overlap_us = std::max(v.longest_overlap_us, at - overlap_since);
    v.most_pollers = std::max(v.most_pollers, now);
    last = at;
  }
  if (now == 0)
    v.longest_gap_us = std::max(v.longest_gap_us, to_us - last);
  for (const auto& p : polls) {
    if (p.end_us < from_us || p.start_us > to_us)
      continue;
    if (p.status == 409)
      ++v.conflicts;
    if (std::find(v.nodes.begin(), v.nodes.end(), p.node) == v.nodes.end())
      v.nodes.push_back(p.node);
  }
  return v;
}

int64_t takeover_after(const std::vector<poll_record>& polls, int64_t since_us,
                       const std::string& old_node, std::string* by) {
  for (const auto& p : polls)
    if (p.start_us >= since_us && p.node != old_node) {
      if (by != nullptr)
        *by = p.node;
      return p.start_us - since_us;
    }
  return -1;
}

std::string sole_poller(const std::vector<poll_record>& polls, int64_t since_us, int64_t now_us,
                        int64_t join_us) {
  std::vector<polling_session> seen;
  for (const auto& s : polling_sessions(polls, join_us))
    if (s.end_us > since_us && s.start_us <= now_us)
      seen.push_back(s);
  // Still polling = a poll open now: a poller that just stopped is not one.
  if (seen.size() != 1 || seen[0].start_us > since_us || seen[0].end_us < now_us)
    return {};
  return seen[0].node;
}

} // namespace montana::testing
