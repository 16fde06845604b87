#include "actors/chain_leader.hpp"

#include "actors/bot_supervisor.hpp"
#include "actors/coro.hpp"
#include "actors/introspection.hpp"
#include "actors/overload.hpp"
#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <variant>

namespace montana {

duration handover_wait(const duty_settings& duty) {
  return duty.startup_delay + duration{2000};
}

duration handover_breath_bound(duration handover_timeout) {
  return handover_timeout * 2 + duration{60000};
}

duration stop_bound(const duty_settings& duty) {
  return duty.stop_grace + std::chrono::seconds{5};
}

namespace {

struct leader_state {
  static inline const char* name = "chain-leader";

  caf::event_based_actor* self;
  leader_params params;
  std::optional<chain_rule> rule;
  caf::actor supervisor;
  std::map<std::string, caf::actor> gateways;
  std::vector<caf::actor> subscribers;
  actor_counters counters;
  std::string role_reason = "started";
  int64_t role_since_us = unix_us();
  uint64_t takeovers = 0;
  uint64_t role_changes = 0;
  /// Raised whenever the role changed or a stop of the duty process completed.
  co::signal changed;
  co::scope coros; // last: suspended frames go before what they use

  explicit leader_state(caf::event_based_actor* self) : self(self), coros(self) {}

  const std::string& duty() const { return params.duty.name; }
  std::string tag() const { return params.self + " leader " + duty(); }

  void init(leader_params p) {
    params = std::move(p);
    rule.emplace(params.self, params.duty.chain, params.duty.startup_delay, self->clock().now());
    supervisor = spawn_bot_supervisor(self->system(), params.self, params.duty, params.launcher,
                                      caf::actor{self});
    self->link_to(supervisor);
    for (const auto& watcher : {params.inspector, params.guardian})
      if (watcher)
        self->send(watcher, register_atom::value, std::string{"supervisor"}, duty(), supervisor);
    self->send(params.peer_actor, subscribe_atom::value, caf::actor{self});
    for (auto& [node, probe] : params.probes)
      self->send(probe, subscribe_atom::value, caf::actor{self});
    if (params.stepped_down) {
      // The others learn it as their links come up.
      spdlog::info("[{}] duty {}: stepped down before this start; resume to take part again",
                   params.self, duty());
      apply(rule->step_down());
      role_reason = "stepped down before this start";
    }
  }

  void remember(bool stepped_down) {
    if (params.remember)
      params.remember(stepped_down);
  }

  template <class Message>
  void send_to(const std::string& node, Message msg) {
    if (auto i = gateways.find(node); i != gateways.end())
      self->send(i->second, std::move(msg));
  }

  /// A claim or an answer to a claim: without a link of our own to `node`, every linked node
  /// passes it on (the receiver takes a duplicate as it takes a repeated claim).
  void send_or_relay(const std::string& node, relay_kind kind, uint64_t term, uint64_t highest) {
    auto direct = gateways.find(node);
    if (direct != gateways.end()) {
      switch (kind) {
      case relay_kind::claim:
        return self->send(direct->second, claim{duty(), params.self, term});
      case relay_kind::released:
        return self->send(direct->second, released{duty(), params.self, term, highest});
      case relay_kind::refused:
        return self->send(direct->second, refused{duty(), params.self, term, highest});
      }
    }
    for (const auto& [via, gateway] : gateways)
      self->send(gateway, relay{node, params.self, kind, duty(), term, highest});
  }

  void emit(event_kind kind, std::string text) {
    auto event = node_event{unix_us(), params.self, kind, duty(), std::move(text)};
    for (auto& s : subscribers)
      self->send(s, event);
  }

  void apply(std::vector<chain_action> actions) {
    namespace act = rule_action;
    for (auto& action : actions)
      std::visit(overload{
                     [&](act::send_claim& x) { send_or_relay(x.to, relay_kind::claim, x.term, 0); },
                     [&](act::send_released& x) {
                       send_or_relay(x.to, relay_kind::released, x.term, x.highest);
                     },
                     [&](act::send_refused& x) {
                       send_or_relay(x.to, relay_kind::refused, x.term, x.highest);
                     },
                     [&](act::send_stepped_down& x) {
                       send_to(x.to, stepped_down{duty(), params.self});
                     },
                     [&](act::send_resumed& x) {
                       send_to(x.to, resumed{duty(), params.self});
                     },
                     [&](act::send_state& x) {
                       send_to(x.to, duty_state{duty(), params.self, x.role, x.term});
                     },
                     [&](act::start_duty& x) { start(coros, x.term); },
                     [&](act::stop_duty& x) { stop(coros, std::move(x.reason)); },
                     [&](act::mark_alive& x) {
                       if (auto i = params.probes.find(x.node); i != params.probes.end())
                         self->send(i->second, heard{x.node});
                     },
                     [&](act::role_changed& x) { on_role_changed(x); },
                 },
                 action);
  }

  void on_role_changed(const rule_action::role_changed& rc) {
    auto line = to_string(rc.from) + " -> " + to_string(rc.to) + ", term " +
                std::to_string(rc.term) + ": " + rc.reason;
    spdlog::info("[{}] duty {}: {}", params.self, duty(), line);
    role_reason = rc.reason;
    role_since_us = unix_us();
    ++role_changes;
    if (rc.to == duty_role::holder)
      ++takeovers;
    emit(event_kind::role, std::move(line));
    changed.notify();
  }

  /// Leaves the chain for good: a holder waits for the next node's claim (or stops the duty
  /// when none comes in time); answers `rp` once no duty process is left.
  co::task leave(co::scope& coros, caf::response_promise rp) {
    apply(rule->leave());
    auto deadline = self->clock().now() + handover_wait(params.duty);
    while (rule->role() == duty_role::holder && self->clock().now() < deadline) {
      changed.reset();
      co_await changed.wait(coros, deadline - self->clock().now());
    }
    if (rule->role() == duty_role::holder)
      apply(rule->release("node is leaving: no node claimed within " +
                          std::to_string(handover_wait(params.duty).count()) + " ms"));
    while (rule->role() != duty_role::standby) {
      changed.reset();
      co_await changed.wait(coros, params.duty.stop_grace * 2 + std::chrono::seconds{5});
    }
    rp.deliver(caf::unit);
  }

  /// An operator's drain: answers once the duty left this node (at once when it did not run
  /// here). A holder with nobody to take over is refused: stepping down would stop the duty.
  co::task step_down(co::scope& coros, caf::response_promise rp, std::string by) {
    if (rule->stepped_down()) {
      rp.deliver(action_result{true, duty() + ": already stepped down"});
      co_return;
    }
    if (rule->role() != duty_role::standby && !rule->has_successor()) {
      rp.deliver(action_result{false, duty() + ": not stepped down: no other node of the chain "
                                               "is alive to take it over"});
      co_return;
    }
    spdlog::info("[{}] duty {}: operator {}: step-down", params.self, duty(), by);
    emit(event_kind::action, "operator " + by + ": step-down");
    auto ran_here = rule->role() != duty_role::standby;
    apply(rule->step_down());
    remember(true);
    // Why the duty left: the reason of the change to releasing ("moscow claimed term 5").
    std::string handed_over;
    while (rule->role() != duty_role::standby && rule->stepped_down()) {
      changed.reset();
      co_await changed.wait(coros, std::chrono::hours{1});
      if (rule->role() == duty_role::releasing)
        handed_over = role_reason;
    }
    if (!rule->stepped_down())
      rp.deliver(action_result{false, duty() + ": resumed before another node took it over"});
    else
      rp.deliver(action_result{
          true, duty() + ": stepped down; " +
                    (ran_here ? "handed over: " + (handed_over.empty() ? role_reason : handed_over)
                              : std::string{"it did not run here"})});
  }

  action_result resume(const std::string& by) {
    if (rule->leaving())
      return {false, duty() + ": not resumed: the node is leaving"};
    if (!rule->stepped_down())
      return {true, duty() + ": not stepped down"};
    spdlog::info("[{}] duty {}: operator {}: resume", params.self, duty(), by);
    emit(event_kind::action, "operator " + by + ": resume");
    apply(rule->resume());
    remember(false);
    changed.notify();
    return {true, duty() + ": resumed; " + to_string(rule->role()) + " (" + role_reason + ")"};
  }

  /// The data moves with the duty: a hand-over breath, then the hand-over goes on whatever it
  /// achieved (the remote cannot hold the duty hostage). Logs a failure; the breather reports
  /// the breath.
  void note_handover(const caf::expected<breath_report>& report, bool taking) {
    const auto when = taking ? "before the start" : "after the stop";
    if (report && report->ok)
      return;
    ++counters.errors;
    auto why = report ? "failed at " + report->failed_step + ": " + report->error
                      : "no answer: " + self->system().render(report.error());
    spdlog::warn("[{}] duty {}: hand-over breath {} {}; going on with the data this node has",
                 params.self, duty(), when, why);
    emit(event_kind::breath, std::string{"hand-over breath "} + when + " " + why);
  }

  /// Starts the duty process under `term`, after a hand-over breath brought the synced files
  /// up to the remote.
  co::task start(co::scope& coros, uint64_t term) {
    if (params.breather) {
      auto ask = handover_breath{duty(), true};
      auto report = co_await co::request<breath_report>(
          coros, params.breather, handover_breath_bound(params.handover_timeout), ask);
      note_handover(report, true);
      if (rule->role() != duty_role::holder || rule->term() != term)
        co_return; // handed on while the breath ran
    }
    self->send(supervisor, run_duty{term});
  }

  /// Stops the duty process, and once the supervisor confirmed it and a hand-over breath pushed
  /// what it wrote, tells the rule (which answers the claims it owes with `released`). An answer
  /// that does not come in time is asked for again: the supervisor answers every stop_duty once
  /// the child is gone, so a confirmation that comes late answers the newer request. After
  /// stop_attempts the leader quits, and the node fails fast: a process with a SIGKILL pending
  /// runs no code of its own any more, and the others stop waiting for this node's release once
  /// it has left the cluster.
  co::task stop(co::scope& coros, std::string reason) {
    auto why = stop_duty{std::move(reason)};
    for (int attempt = 1;; ++attempt) {
      auto bound = stop_bound(params.duty);
      auto done = co_await co::request<void>(coros, supervisor, bound, why);
      if (done)
        break;
      ++counters.errors;
      auto problem = self->system().render(done.error());
      if (attempt == stop_attempts) {
        spdlog::error("[{}] duty {}: stop not confirmed after {} attempts ({}): the leader quits",
                      params.self, duty(), attempt, problem);
        auto failure =
            caf::make_error(caf::sec::runtime_error, "stop of duty " + duty() + " not confirmed");
        self->quit(std::move(failure));
        co_return;
      }
      spdlog::error("[{}] duty {}: stop not confirmed within {} ms ({}), attempt {} of {}; "
                    "asking again",
                    params.self, duty(), bound.count(), problem, attempt, stop_attempts);
    }
    if (params.breather) {
      auto ask = handover_breath{duty(), false};
      auto report = co_await co::request<breath_report>(
          coros, params.breather, handover_breath_bound(params.handover_timeout), ask);
      note_handover(report, false);
    }
    apply(rule->on_stopped());
    changed.notify();
  }

  /// The rule's state and the supervisor's, answered once the supervisor replied.
  co::task status(co::scope& coros, caf::response_promise rp) {
    duty_status out;
    out.duty = duty();
    out.role = rule->role();
    out.term = rule->term();
    out.reason = role_reason;
    out.role_since_us = role_since_us;
    out.stepped_down = rule->stepped_down();
    out.leaving = rule->leaving();
    for (const auto& node : rule->chain())
      out.chain.push_back(
          chain_member{node, node == params.self ? verdict::alive : rule->verdict_of(node),
                       node == params.self ? rule->stepped_down() : rule->out().count(node) > 0});
    out.pending.assign(rule->pending().begin(), rule->pending().end());
    out.takeovers = takeovers;
    out.role_changes = role_changes;
    auto process = co_await co::request<process_status>(coros, supervisor, std::chrono::seconds{5},
                                                        status_atom::value);
    if (process)
      out.process = std::move(*process);
    rp.deliver(std::move(out));
  }

  actor_info info() const {
    auto out = describe_actor(self, tag(), "chain-leader", counters);
    std::string out_nodes;
    for (const auto& node : rule->out())
      out_nodes += (out_nodes.empty() ? "" : ", ") + node;
    std::string pending;
    for (const auto& node : rule->pending())
      pending += (pending.empty() ? "" : ", ") + node;
    out.state = {{"role", to_string(rule->role()) + " (" + role_reason + ")"},
                 {"term", std::to_string(rule->term())},
                 {"ready", !rule->online() ? "no: network down"
                           : rule->ready() ? "yes"
                                           : "in startup delay"},
                 {"stepped down", rule->leaving()        ? "leaving"
                                  : rule->stepped_down() ? "yes"
                                                         : "no"},
                 {"others stepped down", out_nodes.empty() ? "none" : out_nodes},
                 {"claim waits for", pending.empty() ? "nobody" : pending},
                 {"takeovers", std::to_string(takeovers)},
                 {"linked gateways", std::to_string(gateways.size())}};
    return out;
  }

  void tick() {
    apply(rule->tick(self->clock().now()));
    self->delayed_send(self, params.tick, tick_atom::value);
  }

  bool from_peer(const std::string& duty_name, const std::string& from) const {
    return duty_name == duty() && from != params.self;
  }

  void on_link_up(const link_up& x) {
    gateways[x.node] = x.gateway;
    apply(rule->on_link(x.node));
  }

  void on_network(const network_changed& x) {
    spdlog::info("[{}] duty {}: network {} ({}){}", params.self, duty(), x.up ? "back" : "down",
                 x.detail,
                 x.up ? ": starting over, the duty waits until this node heard who holds it"
                      : ": this node takes no part until it is back");
    apply(rule->on_network(x.up, self->clock().now()));
  }

  action_result restart(const std::string& by) {
    if (rule->role() != duty_role::holder)
      return {false, duty() + ": not restarted: this node is " + to_string(rule->role()) +
                         ", the process runs on the holder"};
    spdlog::info("[{}] duty {}: operator {}: restart", params.self, duty(), by);
    emit(event_kind::action, "operator " + by + ": restart");
    self->send(supervisor, restart_atom::value, "operator " + by + ": restart");
    return {true, duty() + ": restarting its process"};
  }
};

} // namespace

caf::actor spawn_chain_leader(caf::actor_system& sys, leader_params params) {
  return sys.spawn(
      [](caf::stateful_actor<leader_state>* self, leader_params p) -> caf::behavior {
        auto& st = self->state;
        st.init(std::move(p));
        drop_unexpected(self, st.tag(), st.counters);
        st.tick();
        return counted(
            st.counters, [self](tick_atom) { self->state.tick(); },
            [self](stop_atom) {
              auto rp = self->make_response_promise();
              self->state.leave(self->state.coros, rp);
              return rp;
            },
            [self](step_down_atom, const std::string& by) {
              auto rp = self->make_response_promise();
              self->state.step_down(self->state.coros, rp, by);
              return rp;
            },
            [self](resume_atom, const std::string& by) { return self->state.resume(by); },
            [self](restart_atom, const std::string& by) { return self->state.restart(by); },
            [self](status_atom) {
              auto rp = self->make_response_promise();
              self->state.status(self->state.coros, rp);
              return rp;
            },
            [self](inspect_atom) { return self->state.info(); },
            [self](const duty_update& x) {
              // The stop bounds use stop_grace; the process settings are the supervisor's.
              self->state.params.duty.stop_grace = duration{x.stop_grace_ms};
              self->send(self->state.supervisor, x);
            },
            [self](subscribe_atom, caf::actor who) {
              self->state.subscribers.push_back(std::move(who));
            },
            [self](const verdict_changed& x) {
              self->state.apply(self->state.rule->on_verdict(x.node, x.value));
            },
            [self](const link_up& x) { self->state.on_link_up(x); },
            [self](const link_down& x) { self->state.gateways.erase(x.node); },
            [self](const claim& x) {
              if (self->state.from_peer(x.duty, x.from))
                self->state.apply(self->state.rule->on_claim(x.from, x.term));
            },
            [self](const released& x) {
              if (self->state.from_peer(x.duty, x.from))
                self->state.apply(self->state.rule->on_released(x.from, x.term, x.highest));
            },
            [self](const refused& x) {
              if (self->state.from_peer(x.duty, x.from))
                self->state.apply(self->state.rule->on_refused(x.from, x.term, x.highest));
            },
            [self](const stepped_down& x) {
              if (self->state.from_peer(x.duty, x.from))
                self->state.apply(self->state.rule->on_stepped_down(x.from));
            },
            [self](const resumed& x) {
              if (self->state.from_peer(x.duty, x.from))
                self->state.apply(self->state.rule->on_resumed(x.from));
            },
            [self](const duty_state& x) {
              if (self->state.from_peer(x.duty, x.from))
                self->state.apply(self->state.rule->on_state(x.from, x.role, x.term));
            },
            [self](const network_changed& x) { self->state.on_network(x); },
            [self](const duty_started& x) {
              spdlog::info("[{}] duty {}: process {} started, term {}", self->state.params.self,
                           x.duty, x.pid, x.term);
              self->state.emit(event_kind::duty, "process " + std::to_string(x.pid) +
                                                     " started, term " + std::to_string(x.term));
            },
            [self](const duty_exited& x) {
              auto text = "process " + std::to_string(x.pid) + " exited (code " +
                          std::to_string(x.exit_code) + ", signal " + std::to_string(x.signal) +
                          (x.requested ? ", as asked)" : ")");
              spdlog::info("[{}] duty {}: {}", self->state.params.self, x.duty, text);
              self->state.emit(event_kind::duty, std::move(text));
            },
            [self](const duty_failed& x) {
              ++self->state.counters.errors;
              spdlog::warn("[{}] duty {}: cannot start: {}", self->state.params.self, x.duty,
                           x.reason);
              self->state.emit(event_kind::duty, "cannot start: " + x.reason);
            });
      },
      std::move(params));
}

} // namespace montana
