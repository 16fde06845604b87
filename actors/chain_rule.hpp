// The decision of one node for one duty: pure, no CAF, no clock, no I/O.
//
// Rule: I run the duty iff every node above me in the duty's chain is gone: dead, or
// stepped down (drained by an operator, or leaving on SIGTERM).
// Protocol (acknowledged handover):
//
//   standby --rule holds--> claiming --all non-dead nodes released--> holder
//      ^                      |  (claim(term) sent to each, resent on tick)
//      |  rule fails          |                                   |
//      +----------------------+                                   | a higher node
//      |                                                          | claims
//      +------------- stopped (released sent) ----- releasing <---+
//
// A holder does not step down merely because a higher node looks alive again:
// it runs until that node claims, so a hand-back costs one claim round trip and
// the stop of the old process, never a probe interval.
//
// A node answers a claim from a higher node with `released` once it runs no
// duty process (at once in standby, after the supervisor confirmed the stop in
// holder/releasing), and with `refused` to a claim from a lower node (it is
// alive, so the claimer must not run). A claim is direct evidence of life: the
// claimer counts as alive from then on. Only `dead` verdicts let a node skip an
// acknowledgement, which is what makes hand-back overlap-free among nodes that
// can reach each other. Terms grow with every change of holder: a claim takes
// the highest term seen + 1, and a claimer that learns of a higher term from the
// answers takes the duty under the highest + 1, so a restarted node (which
// remembers no term) still continues the sequence of any node it can reach.
//
// Two holders that meet settle at once: when a link comes up both ends tell each other their
// role and term (`duty_state`); a holder that hears of a holder above it releases, one that hears
// of a holder below it claims it (a claim, not `rise` probe rounds later).
//
// A node whose network is down (no interface with a carrier: isolated, not merely unlinked)
// takes no part: a holder stops its duty (it cannot reach Telegram either), nobody claims. When
// the network comes back it starts over as after a restart — startup delay, every peer unknown
// — so it does not run the duty again before it has heard who holds it now.
//
// Stepping down uses the same handover: the node tells every other chain node
// (`stepped_down`), which then count it as gone, and keeps running until the
// next node claims; it answers every claim, from above or below, like a claim
// from above. `resumed` puts it back, and a node at the top claims its duty back
// as after a restart. A node that stepped down never claims.
#pragma once

#include "messages/messages.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace montana {

/// What the chain rule asks its actor to do.
namespace rule_action {
/// Send claim{term} to `to`.
struct send_claim {
  std::string to;
  uint64_t term;
};
/// Send released{term, highest} to `to` (answer to its claim of `term`).
struct send_released {
  std::string to;
  uint64_t term;
  uint64_t highest;
};
/// Send refused{term, highest} to `to` (answer to its claim of `term`).
struct send_refused {
  std::string to;
  uint64_t term;
  uint64_t highest;
};
/// Start (and keep running) the duty process under `term`.
struct start_duty {
  uint64_t term;
};
/// Stop the duty process; answer with `on_stopped` once no child is left.
struct stop_duty {
  std::string reason;
};
/// Tell `to` that this node stepped down: it counts as gone for the nodes below it.
struct send_stepped_down {
  std::string to;
};
/// Tell `to` that this node takes part in the chain again.
struct send_resumed {
  std::string to;
};
/// Tell `to` this node's role and term (a link to it came up).
struct send_state {
  std::string to;
  duty_role role;
  uint64_t term;
};
/// `node` proved it is alive: tell its probe.
struct mark_alive {
  std::string node;
};
/// The role changed; the actor logs one line with node, duty, term and reason.
struct role_changed {
  duty_role from;
  duty_role to;
  uint64_t term;
  std::string reason;
};
} // namespace rule_action

using chain_action =
    std::variant<rule_action::send_claim, rule_action::send_released, rule_action::send_refused,
                 rule_action::send_stepped_down, rule_action::send_resumed, rule_action::send_state,
                 rule_action::start_duty, rule_action::stop_duty, rule_action::mark_alive,
                 rule_action::role_changed>;

/// One node's state machine for one duty; fed inputs, it returns actions.
class chain_rule {
public:
  using time_point = std::chrono::steady_clock::time_point;

  /// `chain` lists the duty's nodes by priority and must contain `self`.
  /// No decision is taken before `start + startup_delay`.
  chain_rule(std::string self, std::vector<std::string> chain,
             std::chrono::milliseconds startup_delay, time_point start);

  /// A probe's verdict on `node` (nodes outside the chain are ignored).
  std::vector<chain_action> on_verdict(const std::string& node, verdict value);
  /// `from` claims the duty under `term`.
  std::vector<chain_action> on_claim(const std::string& from, uint64_t term);
  /// `from` released the duty in answer to our claim of `term`; it has seen terms up to `highest`.
  std::vector<chain_action> on_released(const std::string& from, uint64_t term, uint64_t highest);
  /// `from` refused our claim: it is alive and ranks above us.
  std::vector<chain_action> on_refused(const std::string& from, uint64_t term, uint64_t highest);
  /// The supervisor confirmed that no duty process is left.
  std::vector<chain_action> on_stopped();
  /// `from` stepped down: it counts as gone until it resumes, claims or dies.
  std::vector<chain_action> on_stepped_down(const std::string& from);
  /// `from` takes part again.
  std::vector<chain_action> on_resumed(const std::string& from);
  /// A link to `node` came up: it learns our role and term, and that we stepped down, if we did.
  std::vector<chain_action> on_link(const std::string& node);
  /// `from` told us its role and term (its link to us came up): it is alive; a holder above us
  /// makes our holding release, a holder below us gets our claim.
  std::vector<chain_action> on_state(const std::string& from, duty_role role, uint64_t term);
  /// This node's network went down (`up` false: a holder stops its duty, nobody claims) or came
  /// back (`up` true: a fresh start at `now`, every peer unknown, the startup delay again).
  std::vector<chain_action> on_network(bool up, time_point now);
  /// Steps down (operator drain): tells every other node, aborts a claim, and as holder keeps
  /// running until the next node claims. Never claims until resume().
  std::vector<chain_action> step_down();
  /// Ends a step_down(): tells every other node and claims again if the rule holds.
  std::vector<chain_action> resume();
  /// This node is shutting down: steps down for good; a holder hands the duty over like a
  /// stepped-down one, or stops it at once when no other node could take it.
  std::vector<chain_action> leave();
  /// A holder stops its duty without waiting for a claim (a leave whose handover timed out).
  std::vector<chain_action> release(std::string reason);
  /// Time passes: ends the startup delay, resends pending claims.
  std::vector<chain_action> tick(time_point now);

  duty_role role() const { return role_; }
  /// The term this node claims, holds or releases under; in standby the highest term seen.
  uint64_t term() const;
  /// True once the startup delay is over.
  bool ready() const { return ready_; }
  /// Nodes whose `released` a claim still waits for.
  const std::set<std::string>& pending() const { return pending_; }
  verdict verdict_of(const std::string& node) const;
  /// True iff every node above this one is dead or stepped down (ignores the startup delay).
  bool above_all_gone() const;
  /// False while this node's network is down.
  bool online() const { return online_; }
  /// Whether this node stepped down (or is leaving).
  bool stepped_down() const { return stepped_down_; }
  bool leaving() const { return leaving_; }
  /// Other nodes that told us they stepped down.
  const std::set<std::string>& out() const { return out_; }
  /// Whether some other node could take the duty over: not dead and not stepped down.
  bool has_successor() const;
  const std::string& self() const { return self_; }
  const std::vector<std::string>& chain() const { return chain_; }

private:
  int rank(const std::string& node) const;
  void observe_term(uint64_t term);
  void set_role(duty_role to, std::string reason, std::vector<chain_action>& out);
  void evaluate(std::vector<chain_action>& out);
  void begin_claim(std::vector<chain_action>& out);
  void finish_claim_if_done(std::vector<chain_action>& out);
  void begin_release(std::string reason, std::vector<chain_action>& out);
  /// Takes `value` as the verdict on `node` (a chain node other than this one).
  void take_verdict(const std::string& node, verdict value, std::vector<chain_action>& out);
  bool gone(const std::string& node) const;
  /// A leaving holder with nobody left to take over stops the duty itself.
  void release_if_orphaned(std::vector<chain_action>& out);
  /// `action` for every other node of the chain.
  template <class Action>
  void tell_everyone(std::vector<chain_action>& out) const;

  std::string self_;
  std::vector<std::string> chain_;
  int self_rank_;
  std::chrono::milliseconds startup_delay_;
  time_point ready_at_;
  bool ready_ = false;
  bool stepped_down_ = false;
  bool leaving_ = false;
  bool online_ = true;
  duty_role role_ = duty_role::standby;
  /// Term of our latest claim.
  uint64_t term_ = 0;
  uint64_t max_term_ = 0;
  /// Highest term the answers to our current claim reported.
  uint64_t reported_ = 0;
  std::map<std::string, verdict> verdicts_;
  /// Nodes that stepped down, as they told us.
  std::set<std::string> out_;
  std::set<std::string> pending_;
  struct owed_release {
    uint64_t term;
    /// Our highest term when the claim came (the claim's own term excluded).
    uint64_t highest;
  };
  /// Claims to acknowledge once our process is gone.
  std::map<std::string, owed_release> owed_releases_;
};

} // namespace montana
