#include "actors/console.hpp"

#include "actors/coro.hpp"
#include "actors/introspection.hpp"
#include "actors/unexpected.hpp"
#include "messages/status_json.hpp"

#include <spdlog/spdlog.h>

#include <optional>

namespace montana {

namespace {

/// Questions answered from memory; `cluster` waits for the other nodes (up to 4 s each, at once).
constexpr std::chrono::seconds query_timeout{10};
/// Longest an action may take before the console answers anyway: a step-down waits for the next
/// node's claim and for the duty's stop (up to its stop_grace).
constexpr std::chrono::seconds action_timeout{60};
/// A breath may wait for the running one first.
constexpr std::chrono::minutes breath_timeout{5};

struct console_state {
  static inline const char* name = "console";

  caf::event_based_actor* self;
  console_params params;
  bool watching_events = false;
  std::optional<uint64_t> log_follow;
  actor_counters counters;
  co::scope coros; // last: suspended frames go before what they use

  explicit console_state(caf::event_based_actor* self) : self(self), coros(self) {}

  ~console_state() {
    if (log_follow && params.log)
      params.log->unfollow(*log_follow);
    spdlog::info("[{}] operator {}: shell disconnected", params.self, params.operator_name);
  }

  console_state(const console_state&) = delete;
  console_state& operator=(const console_state&) = delete;

  std::string tag() const { return params.self + " console " + params.operator_name; }

  void write(json line) { params.sink.write(line.dump()); }

  void reply(uint64_t id, json value) { write(json{{"re", id}, {"ok", std::move(value)}}); }

  void fail(uint64_t id, const std::string& error) {
    ++counters.errors;
    write(json{{"re", id}, {"error", error}});
  }

  /// Asks `dest` and replies with the JSON of its answer of type T.
  template <class T, class... Ts>
  void relay(uint64_t id, caf::actor dest, caf::timespan timeout, Ts... xs) {
    self->request(dest, timeout, xs...)
        .then([this, id](T& x) { reply(id, to_json(x)); },
              [this, id](caf::error& err) { fail(id, self->system().render(err)); });
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
  co::task act(co::scope& coros, uint64_t id, Atom atom, std::string duty) {
    auto targets = leaders_for(duty);
    if (!targets) {
      reply(id, to_json(action_result{false, self->system().render(targets.error())}));
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
    reply(id, to_json(all));
  }

  void watch(bool events, bool log) {
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

  /// One request of the shell.
  void serve(const shell_request& request) {
    uint64_t id = 0;
    json j;
    try {
      j = json::parse(request.line);
      id = j.value("id", uint64_t{0});
      dispatch(id, j.at("ask").get<std::string>(), j);
    } catch (const std::exception& e) {
      fail(id, std::string{"bad request: "} + e.what());
    }
  }

  void dispatch(uint64_t id, const std::string& ask, const json& j) {
    auto duty = [&] { return j.value("duty", std::string{}); };
    if (ask == "status")
      return relay<node_status>(id, params.inspector, query_timeout, status_atom::value);
    if (ask == "cluster")
      return relay<std::vector<node_view>>(id, params.inspector, query_timeout,
                                           cluster_atom::value);
    if (ask == "probes")
      return relay<std::vector<probe_status>>(id, params.inspector, query_timeout,
                                              probes_atom::value);
    if (ask == "actors")
      return relay<std::vector<actor_info>>(id, params.inspector, query_timeout,
                                            actors_atom::value);
    if (ask == "history" || ask == "breathe") {
      if (!params.breather)
        return fail(id, "this node does not breathe (no [breath] repo)");
      if (ask == "history")
        return relay<std::vector<breath_report>>(id, params.breather, query_timeout,
                                                 history_atom::value);
      spdlog::info("[{}] operator {}: breathe", params.self, params.operator_name);
      return relay<breath_report>(id, params.breather, breath_timeout, breathe_atom::value);
    }
    if (ask == "log") {
      auto n = j.value("n", size_t{20});
      return reply(id, to_json(params.log ? params.log->recent(n) : std::vector<log_line>{}));
    }
    if (ask == "watch") {
      watch(j.value("events", false), j.value("log", false));
      return reply(id, nullptr);
    }
    if (ask == "unwatch") {
      unwatch();
      return reply(id, nullptr);
    }
    if (ask == "step-down")
      act(coros, id, step_down_atom::value, duty());
    else if (ask == "resume")
      act(coros, id, resume_atom::value, duty());
    else if (ask == "restart")
      act(coros, id, restart_atom::value, duty());
    else
      fail(id, "unknown request '" + ask + "'");
  }

  actor_info info() const {
    auto out = describe_actor(self, tag(), "console", counters);
    out.state = {{"operator", params.operator_name},
                 {"watching", std::string{watching_events ? "events" : ""} +
                                  (watching_events && log_follow ? ", " : "") +
                                  (log_follow ? "log" : "") +
                                  (!watching_events && !log_follow ? "nothing" : "")}};
    return out;
  }
};

} // namespace

caf::actor spawn_console(caf::actor_system& sys, console_params params) {
  return sys.spawn(
      [](caf::stateful_actor<console_state>* self, console_params p) -> caf::behavior {
        auto& st = self->state;
        st.params = std::move(p);
        drop_unexpected(self, st.tag(), st.counters);
        spdlog::info("[{}] operator {}: shell connected", st.params.self, st.params.operator_name);
        return counted(
            st.counters, [self](const shell_request& x) { self->state.serve(x); },
            [self](inspect_atom) { return self->state.info(); },
            // The shell went away.
            [self](stop_atom) { self->quit(); },
            [self](const node_event& x) {
              if (self->state.watching_events)
                self->state.write(json{{"event", to_json(x)}});
            },
            [self](const log_line& x) {
              if (self->state.log_follow)
                self->state.write(json{{"log", to_json(x)}});
            });
      },
      std::move(params));
}

} // namespace montana
