#include "actors/inspector.hpp"

#include "actors/console.hpp"
#include "actors/coro.hpp"
#include "actors/introspection.hpp"
#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

namespace montana {

namespace {

/// Bound of each question to a local actor; they answer from memory.
constexpr std::chrono::seconds local_timeout{2};
/// Bound of each question to another node: it asks its own actors first.
constexpr std::chrono::seconds remote_timeout{4};

/// An actor of the node, as it registered.
struct member {
  std::string role;
  std::string name;
  caf::actor actor;
};

/// A `cluster` answer being put together: one slot per node, delivered when all are in.
struct cluster_job {
  std::vector<node_view> views;
  size_t missing = 0;
  caf::response_promise rp;
};

struct inspector_state {
  static inline const char* name = "inspector";

  caf::event_based_actor* self;
  inspector_params params;
  int64_t started_us = unix_us();
  std::vector<member> members;
  /// Gateways of the nodes linked now, from the peer's link events.
  std::map<std::string, caf::actor> gateways;
  std::vector<caf::actor> watchers;
  /// The consoles linked to the inspector.
  std::set<caf::actor_addr> consoles;
  actor_counters counters;
  co::scope coros; // last: suspended frames go before what they use

  explicit inspector_state(caf::event_based_actor* self) : self(self), coros(self) {}

  std::vector<member> with_role(const std::string& role) const {
    std::vector<member> out;
    std::copy_if(members.begin(), members.end(), std::back_inserter(out),
                 [&](const member& m) { return m.role == role; });
    return out;
  }

  caf::actor first(const std::string& role) const {
    auto found = with_role(role);
    return found.empty() ? caf::actor{} : found.front().actor;
  }

  void join(std::string role, std::string who, caf::actor actor) {
    self->monitor(actor);
    if (role == "peer" || role == "probe" || role == "leader" || role == "breather")
      self->send(actor, subscribe_atom::value, caf::actor{self});
    members.push_back(member{std::move(role), std::move(who), std::move(actor)});
  }

  void on_down(const caf::down_msg& msg) {
    auto gone = [&](const caf::actor& a) { return a.address() == msg.source; };
    members.erase(std::remove_if(members.begin(), members.end(),
                                 [&](const member& m) { return gone(m.actor); }),
                  members.end());
    watchers.erase(std::remove_if(watchers.begin(), watchers.end(), gone), watchers.end());
  }

  void publish(const node_event& event) {
    for (auto& w : watchers)
      self->send(w, event);
  }

  void event(event_kind kind, std::string subject, std::string text) {
    publish(node_event{unix_us(), params.self, kind, std::move(subject), std::move(text)});
  }

  void watch(caf::actor who) {
    if (std::find(watchers.begin(), watchers.end(), who) != watchers.end())
      return;
    self->monitor(who);
    watchers.push_back(std::move(who));
  }

  void unwatch(const caf::actor& who) {
    watchers.erase(std::remove(watchers.begin(), watchers.end(), who), watchers.end());
  }

  /// Asks every actor of the node in turn; a part that does not answer stays empty.
  co::task status(co::scope& coros, caf::response_promise rp) {
    node_status out;
    out.node = params.self;
    out.version = params.version;
    out.incarnation = params.incarnation;
    out.started_us = started_us;
    out.now_us = unix_us();
    if (auto peer = first("peer")) {
      auto links = co_await co::request<std::vector<link_status>>(coros, peer, local_timeout,
                                                                  status_atom::value);
      if (links)
        out.links = std::move(*links);
    }
    for (const auto& probe : with_role("probe")) {
      auto peer =
          co_await co::request<probe_status>(coros, probe.actor, local_timeout, status_atom::value);
      if (peer) {
        peer->history.clear();
        out.peers.push_back(std::move(*peer));
      }
    }
    for (const auto& leader : with_role("leader")) {
      auto duty =
          co_await co::request<duty_status>(coros, leader.actor, local_timeout, status_atom::value);
      if (duty)
        out.duties.push_back(std::move(*duty));
    }
    if (auto breather = first("breather")) {
      auto breath =
          co_await co::request<breath_status>(coros, breather, local_timeout, status_atom::value);
      if (breath)
        out.breath = std::move(*breath);
    }
    if (params.counts)
      params.counts(out);
    rp.deliver(std::move(out));
  }

  co::task probes(co::scope& coros, caf::response_promise rp) {
    std::vector<probe_status> out;
    for (const auto& probe : with_role("probe")) {
      auto peer =
          co_await co::request<probe_status>(coros, probe.actor, local_timeout, status_atom::value);
      if (peer)
        out.push_back(std::move(*peer));
    }
    rp.deliver(std::move(out));
  }

  co::task actors(co::scope& coros, caf::response_promise rp) {
    std::vector<actor_info> out{info()};
    // Members may leave while we ask: take the list as it is now.
    auto asked = members;
    for (const auto& m : asked) {
      auto answer =
          co_await co::request<actor_info>(coros, m.actor, local_timeout, inspect_atom::value);
      if (answer) {
        out.push_back(std::move(*answer));
      } else {
        actor_info silent;
        silent.name = m.name;
        silent.kind = m.role;
        silent.id = m.actor.id();
        silent.state = {{"answer", self->system().render(answer.error())}};
        out.push_back(std::move(silent));
      }
    }
    rp.deliver(std::move(out));
  }

  /// One node's slot of a `cluster` answer.
  co::task view(co::scope& coros, std::shared_ptr<cluster_job> job, size_t slot) {
    auto& v = job->views[slot];
    if (v.node == params.self) {
      auto own = co_await co::request<node_status>(coros, caf::actor{self}, remote_timeout,
                                                   status_atom::value);
      if (own) {
        v.reachable = true;
        v.status = std::move(*own);
      } else {
        v.error = self->system().render(own.error());
      }
    } else if (auto i = gateways.find(v.node); i == gateways.end()) {
      v.error = "no link";
    } else {
      auto gateway = i->second;
      auto query = status_query{params.self};
      auto theirs = co_await co::request<node_status>(coros, gateway, remote_timeout, query);
      if (theirs) {
        v.reachable = true;
        v.status = std::move(*theirs);
      } else {
        v.error = self->system().render(theirs.error());
      }
    }
    if (--job->missing == 0)
      job->rp.deliver(std::move(job->views));
  }

  void cluster(caf::response_promise rp) {
    auto job = std::make_shared<cluster_job>();
    job->rp = std::move(rp);
    for (const auto& node : params.nodes) {
      node_view v;
      v.node = node;
      job->views.push_back(std::move(v));
    }
    job->missing = job->views.size();
    for (size_t slot = 0; slot < job->views.size(); ++slot)
      view(coros, job, slot);
  }

  /// Whether `who` is a console's; forgets it (each console's exit comes once).
  bool console_ended(const caf::actor_addr& who) { return consoles.erase(who) > 0; }

  caf::actor open_console(const std::string& operator_name, console_sink sink) {
    console_params p;
    p.self = params.self;
    p.operator_name = operator_name;
    p.sink = std::move(sink);
    p.inspector = caf::actor{self};
    for (const auto& leader : with_role("leader"))
      p.leaders[leader.name] = leader.actor;
    p.breather = first("breather");
    p.log = params.log;
    auto console = spawn_console(self->system(), std::move(p));
    // A console must not outlive the node: its exit ends them all.
    self->link_to(console);
    consoles.insert(console.address());
    join("console", "operator " + operator_name, console);
    return console;
  }

  actor_info info() const {
    auto out = describe_actor(self, params.self + " inspector", "inspector", counters);
    out.state = {{"members", std::to_string(members.size())},
                 {"watchers", std::to_string(watchers.size())},
                 {"linked nodes", std::to_string(gateways.size())}};
    return out;
  }
};

} // namespace

caf::actor spawn_inspector(caf::actor_system& sys, inspector_params params) {
  return sys.spawn(
      [](caf::stateful_actor<inspector_state>* self, inspector_params p) -> caf::behavior {
        auto& st = self->state;
        st.params = std::move(p);
        drop_unexpected(self, st.params.self + " inspector", st.counters);
        self->set_down_handler([self](caf::down_msg& msg) { self->state.on_down(msg); });
        // Linked consoles end with the inspector, but a console that fails costs its operator's
        // session only, never the node (whose guardian would fail it with the inspector).
        self->set_exit_handler([self](caf::exit_msg& msg) {
          if (self->state.console_ended(msg.source)) {
            if (msg.reason) {
              ++self->state.counters.errors;
              spdlog::warn("[{}] inspector: a console failed: {}", self->state.params.self,
                           self->system().render(msg.reason));
            }
            return;
          }
          if (msg.reason)
            self->quit(std::move(msg.reason));
        });
        return counted(
            st.counters,
            [self](register_atom, std::string role, std::string name, caf::actor who) {
              self->state.join(std::move(role), std::move(name), std::move(who));
            },
            [self](status_atom) {
              auto rp = self->make_response_promise();
              self->state.status(self->state.coros, rp);
              return rp;
            },
            [self](probes_atom) {
              auto rp = self->make_response_promise();
              self->state.probes(self->state.coros, rp);
              return rp;
            },
            [self](actors_atom) {
              auto rp = self->make_response_promise();
              self->state.actors(self->state.coros, rp);
              return rp;
            },
            [self](cluster_atom) {
              auto rp = self->make_response_promise();
              self->state.cluster(rp);
              return rp;
            },
            [self](inspect_atom) { return self->state.info(); },
            [self](watch_atom, caf::actor who) { self->state.watch(std::move(who)); },
            [self](unwatch_atom, const caf::actor& who) { self->state.unwatch(who); },
            [self](console_atom, const std::string& operator_name, console_sink& sink) {
              return self->state.open_console(operator_name, std::move(sink));
            },
            [self](const verdict_changed& x) {
              self->state.event(event_kind::verdict, x.node,
                                x.node + ": " + to_string(x.value) + " (" + x.reason + ")");
            },
            [self](const link_up& x) {
              self->state.gateways[x.node] = x.gateway;
              self->state.event(event_kind::link, x.node, x.node + ": linked");
            },
            [self](const link_down& x) {
              self->state.gateways.erase(x.node);
              self->state.event(event_kind::link, x.node, x.node + ": link lost: " + x.reason);
            },
            [self](const network_changed& x) {
              self->state.event(event_kind::link, self->state.params.self,
                                std::string{"network "} + (x.up ? "back: " : "down: ") + x.detail);
            },
            [self](const node_event& x) { self->state.publish(x); });
      },
      std::move(params));
}

} // namespace montana
