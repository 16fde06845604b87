#include "support/chaos_faults.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <thread>

namespace montana::testing {

namespace {

using namespace std::chrono_literals;

constexpr std::array<std::pair<fault_kind, std::string_view>, 9> names{{
    {fault_kind::kill, "kill"},
    {fault_kind::freeze, "freeze"},
    {fault_kind::isolate, "isolate"},
    {fault_kind::cut, "cut"},
    {fault_kind::cut_one_way, "cut-one-way"},
    {fault_kind::partition, "partition"},
    {fault_kind::four_of_five, "four-of-five"},
    {fault_kind::restart, "restart"},
    {fault_kind::cold_start, "cold-start"},
}};

int64_t wall_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

/// Seconds with milliseconds: an overlap of a few milliseconds (one 409) is an overlap too.
std::string seconds(int64_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(us) / 1e6);
  return text;
}

/// Every (a, b) with a on `side` and b off it.
std::vector<std::pair<std::string, std::string>> across(const std::vector<std::string>& all,
                                                        const std::vector<std::string>& side) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& a : side)
    for (const auto& b : all)
      if (std::find(side.begin(), side.end(), b) == side.end())
        out.emplace_back(a, b);
  return out;
}

/// The nodes on the target's side of a partition.
std::vector<std::string> target_side(const fault_trial& t) {
  auto side = t.others;
  side.insert(side.begin(), t.target);
  return side;
}

/// Makes the fault of `t`.
void make(chaos_cluster& c, const fault_trial& t) {
  auto& net = c.net();
  switch (t.kind) {
  case fault_kind::kill:
    c.kill(t.target);
    break;
  case fault_kind::freeze:
    c.freeze(t.target);
    break;
  case fault_kind::isolate:
    net.isolate(t.target);
    break;
  case fault_kind::cut:
    net.cut(t.target, t.others.at(0));
    net.cut(t.others.at(0), t.target);
    break;
  case fault_kind::cut_one_way:
    net.cut(t.target, t.others.at(0));
    break;
  case fault_kind::partition:
    for (const auto& [a, b] : across(c.nodes(), target_side(t))) {
      net.cut(a, b);
      net.cut(b, a);
    }
    break;
  case fault_kind::four_of_five:
    for (const auto& n : c.nodes())
      if (n != t.others.at(0))
        net.isolate(n);
    break;
  case fault_kind::restart:
    c.stop(t.target);
    break;
  case fault_kind::cold_start:
    for (const auto& n : c.nodes())
      c.kill(n);
    break;
  }
}

/// Undoes the fault of `t`.
void undo(chaos_cluster& c, const fault_trial& t) {
  switch (t.kind) {
  case fault_kind::kill:
  case fault_kind::restart:
    c.start(t.target);
    break;
  case fault_kind::freeze:
    c.thaw(t.target);
    break;
  case fault_kind::cold_start:
    c.start_all();
    break;
  case fault_kind::isolate:
  case fault_kind::cut:
  case fault_kind::cut_one_way:
  case fault_kind::partition:
  case fault_kind::four_of_five:
    c.net().heal();
    break;
  }
}

} // namespace

std::string_view to_string(fault_kind k) {
  for (const auto& [kind, name] : names)
    if (kind == k)
      return name;
  return "?";
}

std::optional<fault_kind> parse_fault_kind(std::string_view text) {
  for (const auto& [kind, name] : names)
    if (name == text)
      return kind;
  return std::nullopt;
}

std::vector<fault_kind> all_fault_kinds() {
  std::vector<fault_kind> out;
  for (const auto& [kind, name] : names)
    out.push_back(kind);
  return out;
}

std::string describe(const fault_trial& t) {
  std::string who = t.target;
  switch (t.kind) {
  case fault_kind::cut:
    who += "<->" + t.others.at(0);
    break;
  case fault_kind::cut_one_way:
    who += "->" + t.others.at(0);
    break;
  case fault_kind::partition:
    who.clear();
    for (const auto& n : target_side(t))
      who += (who.empty() ? "" : "+") + n;
    who += " | the rest";
    break;
  case fault_kind::four_of_five:
    who = "all but " + t.others.at(0);
    break;
  case fault_kind::cold_start:
    who = "all five";
    break;
  default:
    break;
  }
  return std::string{to_string(t.kind)} + " " + who + " for " + seconds(t.hold.count() * 1000);
}

bool settle(chaos_cluster& c, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto head = c.nodes().front();
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return false;
    // The stand-in's view and the nodes' own: a node that still thinks it holds the duty, but
    // cannot reach Telegram yet, would poll in the next trial.
    if (c.wait_for_sole_poller(head, left, 3s) && c.claimants() == std::vector<std::string>{head})
      return true;
    std::this_thread::sleep_for(200ms);
  }
}

trial_result run_trial(chaos_cluster& c, const fault_trial& t,
                       std::chrono::milliseconds settle_timeout) {
  trial_result r;
  if (t.kind != fault_kind::cold_start) {
    auto now = wall_us();
    r.holder_before = sole_poller(c.polls(), now - 1'000'000, now, poll_join_us);
  }
  r.fault_us = wall_us();
  make(c, t);
  std::this_thread::sleep_for(t.hold);
  undo(c, t);
  r.heal_us = wall_us();
  r.settled = settle(c, settle_timeout);
  r.end_us = wall_us();
  auto polls = c.polls();
  r.after = judge_polls(polls, r.heal_us, r.end_us, poll_join_us);
  if (t.kind == fault_kind::cold_start) {
    // Nothing runs while all five are down: what counts is the start.
    r.takeover_us = takeover_after(polls, r.heal_us, "", &r.new_holder);
    return r;
  }
  auto takeover = takeover_after(polls, r.fault_us, r.holder_before, &r.new_holder);
  if (takeover >= 0 && r.fault_us + takeover <= r.heal_us)
    r.takeover_us = takeover;
  else
    r.new_holder.clear();
  r.during = judge_polls(polls, r.fault_us, r.heal_us, poll_join_us);
  return r;
}

std::string describe(const trial_result& r) {
  std::string out = r.takeover_us >= 0
                        ? "takeover " + seconds(r.takeover_us) + " by " + r.new_holder
                        : std::string{"no takeover"};
  out += "; overlap " + seconds(r.during.overlap_us) + " during, " + seconds(r.after.overlap_us) +
         " after the heal (most pollers " +
         std::to_string(std::max(r.during.most_pollers, r.after.most_pollers)) + ")";
  out += "; longest gap " + seconds(std::max(r.during.longest_gap_us, r.after.longest_gap_us));
  out += "; 409s " + std::to_string(r.during.conflicts + r.after.conflicts);
  out += r.settled ? "; settled" : "; NOT settled";
  return out;
}

} // namespace montana::testing
