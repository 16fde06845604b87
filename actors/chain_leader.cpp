#include "actors/chain_leader.hpp"

#include "actors/bot_supervisor.hpp"
#include "actors/coro.hpp"
#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <optional>

namespace montana {

namespace {

struct leader_state {
  static inline const char* name = "chain-leader";

  caf::event_based_actor* self;
  leader_params params;
  std::optional<chain_rule> rule;
  caf::actor supervisor;
  std::map<std::string, caf::actor> gateways;
  /// Raised whenever a stop of the duty process completed.
  co::signal stopped;
  co::scope coros; // last: suspended frames go before what they use

  explicit leader_state(caf::event_based_actor* self) : self(self), coros(self) {}

  const std::string& duty() const { return params.duty.name; }

  void init(leader_params p) {
    params = std::move(p);
    rule.emplace(params.self, params.duty.chain, params.duty.startup_delay, self->clock().now());
    supervisor = spawn_bot_supervisor(self->system(), params.self, params.duty, params.launcher,
                                      caf::actor{self});
    self->link_to(supervisor);
    self->send(params.peer_actor, subscribe_atom::value, caf::actor{self});
    for (auto& [node, probe] : params.probes)
      self->send(probe, subscribe_atom::value, caf::actor{self});
  }

  template <class Message>
  void send_to(const std::string& node, Message msg) {
    if (auto i = gateways.find(node); i != gateways.end())
      self->send(i->second, std::move(msg));
  }

  void apply(std::vector<chain_action> actions) {
    namespace act = rule_action;
    for (auto& a : actions) {
      if (auto c = std::get_if<act::send_claim>(&a)) {
        send_to(c->to, claim{duty(), params.self, c->term});
      } else if (auto r = std::get_if<act::send_released>(&a)) {
        send_to(r->to, released{duty(), params.self, r->term, r->highest});
      } else if (auto f = std::get_if<act::send_refused>(&a)) {
        send_to(f->to, refused{duty(), params.self, f->term, f->highest});
      } else if (auto s = std::get_if<act::start_duty>(&a)) {
        self->send(supervisor, run_duty{s->term});
      } else if (auto st = std::get_if<act::stop_duty>(&a)) {
        stop(coros, st->reason);
      } else if (auto m = std::get_if<act::mark_alive>(&a)) {
        if (auto i = params.probes.find(m->node); i != params.probes.end())
          self->send(i->second, heard{m->node});
      } else if (auto rc = std::get_if<act::role_changed>(&a)) {
        spdlog::info("[{}] duty {}: {} -> {}, term {}: {}", params.self, duty(),
                     to_string(rc->from), to_string(rc->to), rc->term, rc->reason);
      }
    }
  }

  /// Leaves the chain for good: answers `rp` once no duty process is left.
  co::task leave(co::scope& coros, caf::response_promise rp) {
    apply(rule->leave());
    while (rule->role() != duty_role::standby) {
      co_await stopped.wait(coros, params.duty.stop_grace * 2 + std::chrono::seconds{5});
      stopped.reset();
    }
    rp.deliver(caf::unit);
  }

  /// Stops the duty process and tells the rule once the supervisor confirmed it.
  co::task stop(co::scope& coros, std::string reason) {
    // The supervisor answers within stop_grace plus the kill; the bound only guards a bug.
    auto bound = params.duty.stop_grace * 2 + std::chrono::minutes{1};
    auto why = stop_duty{std::move(reason)};
    auto done = co_await co::request<void>(coros, supervisor, bound, why);
    if (!done) {
      spdlog::error("[{}] duty {}: stop failed: {}", params.self, duty(),
                    self->system().render(done.error()));
      co_return;
    }
    apply(rule->on_stopped());
    stopped.notify();
  }

  void tick() {
    apply(rule->tick(self->clock().now()));
    self->delayed_send(self, params.tick, tick_atom::value);
  }

  bool from_peer(const std::string& duty_name, const std::string& from) const {
    return duty_name == duty() && from != params.self;
  }
};

} // namespace

caf::actor spawn_chain_leader(caf::actor_system& sys, leader_params params) {
  return sys.spawn(
      [](caf::stateful_actor<leader_state>* self, leader_params p) -> caf::behavior {
        auto& st = self->state;
        st.init(std::move(p));
        drop_unexpected(self, st.params.self + " leader " + st.duty());
        st.tick();
        return {
            [self](tick_atom) { self->state.tick(); },
            [self](stop_atom) {
              auto rp = self->make_response_promise();
              self->state.leave(self->state.coros, rp);
              return rp;
            },
            [self](status_atom) -> caf::result<std::string, uint64_t> {
              return {to_string(self->state.rule->role()), self->state.rule->term()};
            },
            [self](const verdict_changed& x) {
              self->state.apply(self->state.rule->on_verdict(x.node, x.value));
            },
            [self](const link_up& x) { self->state.gateways[x.node] = x.gateway; },
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
            [self](const duty_started& x) {
              spdlog::info("[{}] duty {}: process {} started, term {}", self->state.params.self,
                           x.duty, x.pid, x.term);
            },
            [self](const duty_exited& x) {
              spdlog::info("[{}] duty {}: process {} exited (code {}, signal {}{})",
                           self->state.params.self, x.duty, x.pid, x.exit_code, x.signal,
                           x.requested ? ", as asked" : "");
            },
            [self](const duty_failed& x) {
              spdlog::warn("[{}] duty {}: cannot start: {}", self->state.params.self, x.duty,
                           x.reason);
            },
        };
      },
      std::move(params));
}

} // namespace montana
