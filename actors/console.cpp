#include "actors/console.hpp"

#include "actors/coro.hpp"
#include "actors/introspection.hpp"
#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <type_traits>

namespace montana {

namespace {

/// Longest an action may take before the console answers anyway: a step-down waits for the next
/// node's claim and for the duty's stop (up to its stop_grace).
constexpr std::chrono::seconds action_timeout{60};
/// A breath may wait for the running one first.
constexpr std::chrono::minutes breath_timeout{5};

struct console_state {
  static inline const char* name = "console";

  caf::event_based_actor* self;
  console_params params;
  caf::node_id shell_node;
  /// Where watch sends events and log lines.
  caf::actor watcher;
  bool watching_events = false;
  std::optional<uint64_t> log_follow;
  actor_counters counters;
  co::scope coros; // last: suspended frames go before what they use

  explicit console_state(caf::event_based_actor* self) : self(self), coros(self) {}

  ~console_state() {
    if (log_follow && params.log)
      params.log->unfollow(*log_follow);
  }

  std::string tag() const { return params.self + " console " + params.operator_name; }

  bool from_shell() const {
    auto sender = self->current_sender();
    return sender != nullptr && sender->node() == shell_node;
  }

  /// The leaders an action on `duty` is for; empty `duty` means all of them.
  caf::expected<std::vector<std::pair<std::string, caf::actor>>>
  leaders_for(const std::string& duty) const {
    std::vector<std::pair<std::string, caf::actor>> out;
    for (const auto& [name, leader] : params.leaders)
      if (duty.empty() || name == duty)
        out.emplace_back(name, leader);
    if (out.empty())
      return caf::make_error(caf::sec::invalid_argument,
                             duty.empty() ? "this node takes part in no duty"
                                          : "this node takes no part in duty '" + duty + "'");
    return out;
  }

  /// Runs `action` on the leader of `duty` (every duty when empty), one after another.
  template <class Atom>
  co::task act(co::scope& coros, caf::response_promise rp, Atom atom, std::string duty) {
    auto targets = leaders_for(duty);
    if (!targets) {
      rp.deliver(action_result{false, self->system().render(targets.error())});
      co_return;
    }
    action_result all{true, ""};
    for (const auto& [name, leader] : *targets) {
      auto by = params.operator_name;
      auto done = co_await co::request<action_result>(coros, leader, action_timeout, atom, by);
      action_result one;
      if (done)
        one = std::move(*done);
      else if (done.error() == caf::sec::request_timeout)
        one = {false, name + ": no outcome within " + std::to_string(action_timeout.count()) +
                          " s (a stepped-down holder hands over as soon as a node claims)"};
      else
        one = {false, name + ": " + self->system().render(done.error())};
      all.ok = all.ok && one.ok;
      all.text += (all.text.empty() ? "" : "\n") + one.text;
    }
    rp.deliver(std::move(all));
  }

  void watch(bool events, bool log) {
    watcher = caf::actor_cast<caf::actor>(self->current_sender());
    if (events && !watching_events) {
      self->send(params.inspector, watch_atom::value, caf::actor{self});
      watching_events = true;
    }
    if (log && !log_follow && params.log)
      log_follow = params.log->follow(caf::actor{self});
  }

  void unwatch() {
    if (watching_events)
      self->send(params.inspector, unwatch_atom::value, caf::actor{self});
    watching_events = false;
    if (log_follow && params.log)
      params.log->unfollow(*log_follow);
    log_follow.reset();
  }

  actor_info info() const {
    auto out = describe_actor(self, tag(), "console", counters);
    out.state = {{"operator", params.operator_name},
                 {"shell", caf::to_string(shell_node)},
                 {"watching", std::string{watching_events ? "events" : ""} +
                                  (watching_events && log_follow ? ", " : "") +
                                  (log_follow ? "log" : "") +
                                  (!watching_events && !log_follow ? "nothing" : "")}};
    return out;
  }
};

/// `f` answering only messages from the shell's node; anything else is an error, counted.
template <class F, class Result, class... Args>
auto shell_only(caf::stateful_actor<console_state>* self, F f, caf::detail::type_list<Args...>) {
  return [self, f = std::move(f)](Args... xs) -> Result {
    if (!self->state.from_shell()) {
      ++self->state.counters.errors;
      return caf::make_error(caf::sec::invalid_argument, "not this console's shell");
    }
    return f(std::forward<Args>(xs)...);
  };
}

template <class F>
auto shell_only(caf::stateful_actor<console_state>* self, F f) {
  using trait = caf::detail::get_callable_trait<F>;
  return shell_only<F, typename trait::result_type>(self, std::move(f),
                                                    typename trait::arg_types{});
}

/// The handler of an operator action: the leaders answer, one duty after another.
template <class Atom>
auto action(caf::stateful_actor<console_state>* self) {
  return [self](Atom a, const std::string& duty) {
    auto rp = self->make_response_promise();
    self->state.act(self->state.coros, rp, a, duty);
    return caf::result<action_result>{rp};
  };
}

} // namespace

caf::actor spawn_console(caf::actor_system& sys, console_params params) {
  return sys.spawn(
      [](caf::stateful_actor<console_state>* self, console_params p) -> caf::behavior {
        auto& st = self->state;
        st.params = std::move(p);
        st.shell_node = st.params.shell.node();
        drop_unexpected(self, st.tag(), st.counters);
        // The shell is gone (exited, or its link dropped): so is its console.
        self->monitor(st.params.shell);
        self->set_down_handler([self](caf::down_msg& msg) {
          if (msg.source == self->state.params.shell.address()) {
            spdlog::info("[{}] operator {}: shell disconnected", self->state.params.self,
                         self->state.params.operator_name);
            self->state.unwatch();
            self->quit();
          }
        });
        spdlog::info("[{}] operator {}: shell connected from {}", st.params.self,
                     st.params.operator_name, caf::to_string(st.shell_node));
        auto delegate = [self](auto... xs) -> caf::result<caf::message> {
          auto rp = self->make_response_promise();
          rp.delegate(self->state.params.inspector, xs...);
          return rp;
        };
        return counted(
            st.counters, shell_only(self, [delegate](status_atom a) { return delegate(a); }),
            shell_only(self, [delegate](cluster_atom a) { return delegate(a); }),
            shell_only(self, [delegate](probes_atom a) { return delegate(a); }),
            shell_only(self, [delegate](actors_atom a) { return delegate(a); }),
            shell_only(self,
                       [self](history_atom a) -> caf::result<caf::message> {
                         if (!self->state.params.breather)
                           return caf::make_error(caf::sec::invalid_argument,
                                                  "this node does not breathe (no [breath] repo)");
                         auto rp = self->make_response_promise();
                         rp.delegate(self->state.params.breather, a);
                         return rp;
                       }),
            shell_only(self,
                       [self](log_atom, uint32_t n) -> caf::result<std::vector<log_line>> {
                         if (!self->state.params.log)
                           return std::vector<log_line>{};
                         return self->state.params.log->recent(n);
                       }),
            shell_only(self,
                       [self](watch_atom, bool events, bool log) -> caf::result<void> {
                         self->state.watch(events, log);
                         return caf::unit;
                       }),
            shell_only(self,
                       [self](unwatch_atom) -> caf::result<void> {
                         self->state.unwatch();
                         return caf::unit;
                       }),
            shell_only(self, action<step_down_atom>(self)),
            shell_only(self, action<resume_atom>(self)),
            shell_only(self, action<restart_atom>(self)),
            shell_only(self,
                       [self](breathe_atom a) -> caf::result<caf::message> {
                         auto& st = self->state;
                         if (!st.params.breather)
                           return caf::make_error(caf::sec::invalid_argument,
                                                  "this node does not breathe (no [breath] repo)");
                         spdlog::info("[{}] operator {}: breathe", st.params.self,
                                      st.params.operator_name);
                         auto rp = self->make_response_promise();
                         rp.delegate(st.params.breather, a);
                         return rp;
                       }),
            [self](inspect_atom) { return self->state.info(); },
            [self](const node_event& x) {
              if (self->state.watcher && self->state.watching_events)
                self->send(self->state.watcher, x);
            },
            [self](const log_line& x) {
              if (self->state.watcher && self->state.log_follow)
                self->send(self->state.watcher, x);
            });
      },
      std::move(params));
}

} // namespace montana
