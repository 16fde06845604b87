#include "actors/chain_rule.hpp"

#include <algorithm>
#include <utility>

namespace montana {

namespace act = rule_action;

chain_rule::chain_rule(std::string self, std::vector<std::string> chain,
                       std::chrono::milliseconds startup_delay, time_point start)
    : self_(std::move(self)), chain_(std::move(chain)), self_rank_(rank(self_)),
      startup_delay_(startup_delay), ready_at_(start + startup_delay) {
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

bool chain_rule::gone(const std::string& node) const {
  return verdict_of(node) == verdict::dead || out_.count(node) > 0;
}

bool chain_rule::above_all_gone() const {
  for (int i = 0; i < self_rank_; ++i)
    if (!gone(chain_[i]))
      return false;
  return true;
}

bool chain_rule::has_successor() const {
  for (const auto& [node, v] : verdicts_)
    if (!gone(node))
      return true;
  return false;
}

template <class Action>
void chain_rule::tell_everyone(std::vector<chain_action>& out) const {
  for (const auto& node : chain_)
    if (node != self_)
      out.emplace_back(Action{node});
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
  if (!ready_ || stepped_down_ || !online_)
    return;
  if (above_all_gone()) {
    if (role_ == duty_role::standby)
      begin_claim(out);
    else
      finish_claim_if_done(out);
    return;
  }
  std::string reason;
  for (int i = 0; i < self_rank_; ++i)
    if (!gone(chain_[i])) {
      reason = chain_[i] + " above is " + to_string(verdict_of(chain_[i]));
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
  set_role(duty_role::claiming,
           self_rank_ == 0 ? "first in chain"
           : out_.empty()  ? "every node above is dead"
                           : "every node above is dead or stepped down",
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
  if (verdicts_.count(node) == 0)
    return out;
  take_verdict(node, value, out);
  evaluate(out);
  release_if_orphaned(out);
  return out;
}

void chain_rule::take_verdict(const std::string& node, verdict value,
                              std::vector<chain_action>& out) {
  auto before = std::exchange(verdicts_.at(node), value);
  bool below = rank(node) > self_rank_;
  if (value == verdict::dead) {
    // A node that comes back says again whether it stepped down.
    out_.erase(node);
    // Dead runs no duty process, above us (it stepped down before it died) or below: a claim
    // that waited for it would otherwise wait forever.
    pending_.erase(node);
  }
  // A lower node that (re)appears may be running the duty after a partition:
  // a claimer must wait for it, a holder reasserts its claim so it stops.
  if (below && value == verdict::alive && before != verdict::alive) {
    if (role_ == duty_role::claiming && pending_.insert(node).second) {
      out.emplace_back(act::send_claim{node, term_});
    } else if (role_ == duty_role::holder) {
      out.emplace_back(act::send_claim{node, term_});
      // A claim says "I have not stepped down": if we have, say so again right after it, or
      // the node would never claim the duty we are waiting to hand over.
      if (stepped_down_)
        out.emplace_back(act::send_stepped_down{node});
    }
  }
}

std::vector<chain_action> chain_rule::on_claim(const std::string& from, uint64_t term) {
  std::vector<chain_action> out;
  auto from_rank = rank(from);
  if (from_rank < 0 || from == self_)
    return out;
  auto before = max_term_;
  observe_term(term);
  // A claimer has not stepped down (any more).
  out_.erase(from);
  // Having stepped down, we yield to any claimer: that is how the duty moves on.
  if (from_rank > self_rank_ && !stepped_down_) {
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
  out_.erase(from);
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

std::vector<chain_action> chain_rule::on_stepped_down(const std::string& from) {
  std::vector<chain_action> out;
  if (rank(from) < 0 || from == self_ || !out_.insert(from).second)
    return out;
  evaluate(out);
  release_if_orphaned(out);
  return out;
}

std::vector<chain_action> chain_rule::on_resumed(const std::string& from) {
  std::vector<chain_action> out;
  if (out_.erase(from) > 0)
    evaluate(out);
  return out;
}

std::vector<chain_action> chain_rule::on_link(const std::string& node) {
  std::vector<chain_action> out;
  if (rank(node) < 0 || node == self_)
    return out;
  out.emplace_back(act::send_state{node, role_, term()});
  if (stepped_down_)
    out.emplace_back(act::send_stepped_down{node});
  return out;
}

std::vector<chain_action> chain_rule::on_state(const std::string& from, duty_role role,
                                               uint64_t term) {
  std::vector<chain_action> out;
  auto from_rank = rank(from);
  if (from_rank < 0 || from == self_)
    return out;
  observe_term(term);
  // It just spoke to us over a fresh link.
  out.emplace_back(act::mark_alive{from});
  auto was_alive = verdict_of(from) == verdict::alive;
  take_verdict(from, verdict::alive, out);
  auto holds = role == duty_role::holder;
  if (holds && role_ == duty_role::holder) {
    if (from_rank < self_rank_ && out_.count(from) == 0) {
      // Two holders met: the lower releases without waiting for a claim.
      begin_release(from + " above holds term " + std::to_string(term), out);
    } else if (from_rank > self_rank_ && was_alive) {
      // take_verdict claimed it only if it looked gone: it ran the duty beside us all along.
      out.emplace_back(act::send_claim{from, term_});
      if (stepped_down_)
        out.emplace_back(act::send_stepped_down{from});
    }
  }
  evaluate(out);
  release_if_orphaned(out);
  return out;
}

std::vector<chain_action> chain_rule::on_network(bool up, time_point now) {
  std::vector<chain_action> out;
  if (up == online_)
    return out;
  online_ = up;
  if (!up) {
    if (role_ == duty_role::claiming) {
      pending_.clear();
      set_role(duty_role::standby, "network down", out);
    } else if (role_ == duty_role::holder) {
      begin_release("network down", out);
    }
    return out;
  }
  // What we saw while cut off says nothing about who holds the duty now. Step-downs are kept:
  // a link that drops tells them again when it is back, and one that did not drop (a short
  // cut) would not; a node that resumed meanwhile refuses the claim that skips it.
  for (auto& [node, v] : verdicts_)
    v = verdict::unknown;
  ready_ = false;
  ready_at_ = now + startup_delay_;
  return out;
}

std::vector<chain_action> chain_rule::step_down() {
  std::vector<chain_action> out;
  if (stepped_down_)
    return out;
  stepped_down_ = true;
  tell_everyone<act::send_stepped_down>(out);
  if (role_ == duty_role::claiming) {
    pending_.clear();
    set_role(duty_role::standby, leaving_ ? "node is leaving" : "stepped down", out);
  }
  return out;
}

std::vector<chain_action> chain_rule::resume() {
  std::vector<chain_action> out;
  if (!stepped_down_ || leaving_)
    return out;
  stepped_down_ = false;
  tell_everyone<act::send_resumed>(out);
  evaluate(out);
  return out;
}

std::vector<chain_action> chain_rule::leave() {
  leaving_ = true;
  auto out = step_down();
  release_if_orphaned(out);
  return out;
}

std::vector<chain_action> chain_rule::release(std::string reason) {
  std::vector<chain_action> out;
  if (role_ == duty_role::holder)
    begin_release(std::move(reason), out);
  return out;
}

void chain_rule::release_if_orphaned(std::vector<chain_action>& out) {
  if (leaving_ && role_ == duty_role::holder && !has_successor())
    begin_release("node is leaving", out);
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
