#include "actors/chain_rule.hpp"

#include <algorithm>
#include <utility>

namespace montana {

namespace act = rule_action;

std::string to_string(duty_role x) {
  switch (x) {
  case duty_role::standby:
    return "standby";
  case duty_role::claiming:
    return "claiming";
  case duty_role::holder:
    return "holder";
  case duty_role::releasing:
    return "releasing";
  }
  return "invalid";
}

chain_rule::chain_rule(std::string self, std::vector<std::string> chain,
                       std::chrono::milliseconds startup_delay, time_point start)
    : self_(std::move(self)), chain_(std::move(chain)), self_rank_(rank(self_)),
      ready_at_(start + startup_delay) {
  for (const auto& node : chain_)
    if (node != self_)
      verdicts_.emplace(node, verdict::unknown);
}

int chain_rule::rank(const std::string& node) const {
  auto i = std::find(chain_.begin(), chain_.end(), node);
  return i == chain_.end() ? -1 : static_cast<int>(i - chain_.begin());
}

verdict chain_rule::verdict_of(const std::string& node) const {
  auto i = verdicts_.find(node);
  return i == verdicts_.end() ? verdict::unknown : i->second;
}

bool chain_rule::above_all_dead() const {
  for (int i = 0; i < self_rank_; ++i)
    if (verdict_of(chain_[i]) != verdict::dead)
      return false;
  return true;
}

void chain_rule::observe_term(uint64_t term) {
  max_term_ = std::max(max_term_, term);
}

uint64_t chain_rule::term() const {
  return role_ == duty_role::standby ? max_term_ : term_;
}

void chain_rule::set_role(duty_role to, std::string reason, std::vector<chain_action>& out) {
  if (to == role_)
    return;
  out.emplace_back(act::role_changed{role_, to, term_, std::move(reason)});
  role_ = to;
}

void chain_rule::evaluate(std::vector<chain_action>& out) {
  if (!ready_ || leaving_)
    return;
  if (above_all_dead()) {
    if (role_ == duty_role::standby)
      begin_claim(out);
    else
      finish_claim_if_done(out);
    return;
  }
  std::string reason;
  for (int i = 0; i < self_rank_; ++i)
    if (auto v = verdict_of(chain_[i]); v != verdict::dead) {
      reason = chain_[i] + " above is " + to_string(v);
      break;
    }
  // A holder keeps running until the node above claims the duty: stopping as soon
  // as it looks alive would leave a gap until that node's own decision.
  if (role_ == duty_role::claiming) {
    pending_.clear();
    set_role(duty_role::standby, std::move(reason), out);
  }
}

void chain_rule::begin_claim(std::vector<chain_action>& out) {
  term_ = max_term_ + 1;
  max_term_ = term_;
  reported_ = 0;
  pending_.clear();
  for (const auto& [node, v] : verdicts_)
    if (v != verdict::dead)
      pending_.insert(node);
  set_role(duty_role::claiming, self_rank_ == 0 ? "first in chain" : "every node above is dead",
           out);
  for (const auto& node : pending_)
    out.emplace_back(act::send_claim{node, term_});
  finish_claim_if_done(out);
}

void chain_rule::finish_claim_if_done(std::vector<chain_action>& out) {
  if (role_ != duty_role::claiming || !pending_.empty())
    return;
  // An answer may have revealed our term or a higher one in use (we restarted and
  // forgot): take the next free term and tell every live node about it.
  if (reported_ >= term_ || max_term_ > term_) {
    term_ = max_term_ = max_term_ + 1;
    for (const auto& [node, v] : verdicts_)
      if (v != verdict::dead)
        out.emplace_back(act::send_claim{node, term_});
  }
  set_role(duty_role::holder, "every live node released", out);
  out.emplace_back(act::start_duty{term_});
}

void chain_rule::begin_release(std::string reason, std::vector<chain_action>& out) {
  set_role(duty_role::releasing, reason, out);
  out.emplace_back(act::stop_duty{std::move(reason)});
}

std::vector<chain_action> chain_rule::on_verdict(const std::string& node, verdict value) {
  std::vector<chain_action> out;
  auto i = verdicts_.find(node);
  if (i == verdicts_.end())
    return out;
  auto before = std::exchange(i->second, value);
  bool below = rank(node) > self_rank_;
  if (below && value == verdict::dead)
    pending_.erase(node);
  // A lower node that (re)appears may be running the duty after a partition:
  // a claimer must wait for it, a holder reasserts its claim so it stops.
  if (below && value == verdict::alive && before != verdict::alive) {
    if (role_ == duty_role::claiming && pending_.insert(node).second)
      out.emplace_back(act::send_claim{node, term_});
    else if (role_ == duty_role::holder)
      out.emplace_back(act::send_claim{node, term_});
  }
  evaluate(out);
  return out;
}

std::vector<chain_action> chain_rule::on_claim(const std::string& from, uint64_t term) {
  std::vector<chain_action> out;
  auto from_rank = rank(from);
  if (from_rank < 0 || from == self_)
    return out;
  auto before = max_term_;
  observe_term(term);
  if (from_rank > self_rank_) {
    out.emplace_back(act::send_refused{from, term, before});
    return out;
  }
  verdicts_[from] = verdict::alive;
  out.emplace_back(act::mark_alive{from});
  auto reason = from + " claimed term " + std::to_string(term);
  switch (role_) {
  case duty_role::standby:
    out.emplace_back(act::send_released{from, term, before});
    break;
  case duty_role::claiming:
    pending_.clear();
    set_role(duty_role::standby, std::move(reason), out);
    out.emplace_back(act::send_released{from, term, before});
    break;
  case duty_role::holder:
    owed_releases_[from] = {term, before};
    begin_release(std::move(reason), out);
    break;
  case duty_role::releasing:
    owed_releases_[from] = {term, before};
    break;
  }
  return out;
}

std::vector<chain_action> chain_rule::on_released(const std::string& from, uint64_t term,
                                                  uint64_t highest) {
  std::vector<chain_action> out;
  observe_term(std::max(term, highest));
  if (role_ == duty_role::claiming && term == term_ && pending_.erase(from) > 0) {
    reported_ = std::max(reported_, highest);
    finish_claim_if_done(out);
  }
  return out;
}

std::vector<chain_action> chain_rule::on_refused(const std::string& from, uint64_t term,
                                                 uint64_t highest) {
  std::vector<chain_action> out;
  observe_term(std::max(term, highest));
  auto from_rank = rank(from);
  if (from_rank < 0 || from_rank >= self_rank_)
    return out;
  verdicts_[from] = verdict::alive;
  out.emplace_back(act::mark_alive{from});
  evaluate(out);
  return out;
}

std::vector<chain_action> chain_rule::on_stopped() {
  std::vector<chain_action> out;
  if (role_ != duty_role::releasing)
    return out;
  for (const auto& [node, owed] : owed_releases_)
    out.emplace_back(act::send_released{node, owed.term, owed.highest});
  owed_releases_.clear();
  set_role(duty_role::standby, "duty process stopped", out);
  evaluate(out);
  return out;
}

std::vector<chain_action> chain_rule::leave() {
  std::vector<chain_action> out;
  leaving_ = true;
  if (role_ == duty_role::claiming) {
    pending_.clear();
    set_role(duty_role::standby, "node is leaving", out);
  } else if (role_ == duty_role::holder) {
    begin_release("node is leaving", out);
  }
  return out;
}

std::vector<chain_action> chain_rule::tick(time_point now) {
  std::vector<chain_action> out;
  if (!ready_ && now >= ready_at_) {
    ready_ = true;
    evaluate(out);
    return out;
  }
  if (role_ == duty_role::claiming)
    for (const auto& node : pending_)
      out.emplace_back(act::send_claim{node, term_});
  return out;
}

} // namespace montana
