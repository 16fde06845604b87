#include "actors/peer.hpp"

#include "actors/coro.hpp"
#include "actors/handshake.hpp"
#include "actors/introspection.hpp"
#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>

namespace montana {

namespace {

/// A hello waiting for its proof (TLS only).
struct pending_hello {
  std::string node;
  caf::actor gateway;
  uint64_t incarnation = 0;
  std::string nonce;
};

constexpr size_t max_pending = 32;

/// What the peer remembers of each other node's link, for link_status.
struct link_record {
  int64_t since_us = 0;
  uint64_t links = 0;
  std::string problem;
};

struct peer_state {
  static inline const char* name = "peer";

  caf::event_based_actor* self;
  peer_params params;
  std::map<std::string, caf::actor> links;
  std::map<std::string, link_record> records;
  /// Incarnation each node had at its last link: a new one means it restarted.
  std::map<std::string, uint64_t> incarnations;
  std::map<std::string, co::signal> lost;
  std::map<std::string, caf::actor> routes;
  std::vector<caf::actor> subscribers;
  std::map<caf::actor_addr, pending_hello> pending;
  /// Operator hellos waiting for their proof: sender -> (operator name, our nonce).
  std::map<caf::actor_addr, std::pair<std::string, std::string>> pending_operators;
  actor_counters counters;
  uint64_t operator_refusals = 0;
  /// Last problem logged per node, so a dead peer costs one line, not one per retry.
  std::map<std::string, std::pair<std::string, caf::actor_clock::time_point>> last_complaint;
  co::scope coros; // last: suspended frames go before what they use

  explicit peer_state(caf::event_based_actor* self) : self(self), coros(self) {}

  int rank(const std::string& node) const {
    auto i = std::find_if(params.nodes.begin(), params.nodes.end(),
                          [&](const node_entry& e) { return e.name == node; });
    return i == params.nodes.end() ? -1 : static_cast<int>(i - params.nodes.begin());
  }

  void complain(const std::string& node, const std::string& problem) {
    if (auto i = records.find(node); i != records.end())
      i->second.problem = problem;
    auto now = self->clock().now();
    auto& [last, when] = last_complaint[node];
    if (problem == last && now - when < std::chrono::minutes{1})
      return;
    last = problem;
    when = now;
    spdlog::warn("[{}] peer {}: {}", params.self, node, problem);
  }

  template <class Message>
  void broadcast(const Message& msg) {
    for (auto& s : subscribers)
      self->send(s, msg);
  }

  void subscribe(caf::actor who) {
    for (auto& [node, gateway] : links)
      self->send(who, link_up{node, gateway});
    subscribers.push_back(std::move(who));
  }

  void add_link(const std::string& node, caf::actor gateway, uint64_t incarnation) {
    if (auto i = links.find(node); i != links.end() && i->second != gateway)
      remove_link(node, "replaced by a new connection");
    self->monitor(gateway);
    links[node] = gateway;
    auto& record = records[node];
    record.since_us = unix_us();
    ++record.links;
    record.problem.clear();
    lost[node].reset();
    last_complaint.erase(node);
    auto [known, first] = incarnations.try_emplace(node, incarnation);
    auto restarted = !first && known->second != incarnation;
    known->second = incarnation;
    spdlog::info("[{}] peer {}: linked{}", params.self, node,
                 first       ? ""
                 : restarted ? " (it restarted)"
                             : " again (same run)");
    broadcast(link_up{node, std::move(gateway)});
  }

  /// `node` is taken by value: on_down passes the key of the very entry this erases.
  void remove_link(std::string node, const std::string& reason) {
    auto i = links.find(node);
    if (i == links.end())
      return;
    self->demonitor(i->second);
    links.erase(i);
    auto& record = records[node];
    record.since_us = unix_us();
    record.problem = "link lost: " + reason;
    spdlog::info("[{}] peer {}: link lost: {}", params.self, node, reason);
    broadcast(link_down{node, reason});
    lost[node].notify();
  }

  void on_down(const caf::down_msg& msg) {
    for (auto& [node, gateway] : links)
      if (gateway.address() == msg.source) {
        remove_link(node, self->system().render(msg.reason));
        return;
      }
  }

  /// Refuses with one (rate-limited) log line naming the claimed node.
  caf::error refuse(const std::string& node, const std::string& problem) {
    ++counters.errors;
    complain(rank(node) < 0 ? "?" : node, problem);
    return caf::make_error(caf::sec::invalid_argument, problem);
  }

  /// Refuses a shell, with one (rate-limited) log line naming the operator it claimed to be.
  caf::error refuse_operator(const std::string& name, const std::string& problem) {
    ++operator_refusals;
    return refuse(operator_party(name), problem);
  }

  caf::result<welcome> on_operator_hello(const operator_hello& x) {
    if (!params.prover)
      return refuse_operator(x.name, "shell refused: the channel runs without TLS");
    if (!params.prover->is_operator(x.name))
      return refuse_operator(x.name, "shell refused: '" + x.name + "' is no registered operator");
    auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
    if (pending_operators.size() >= max_pending)
      pending_operators.erase(pending_operators.begin());
    auto nonce = make_nonce();
    pending_operators[sender] = {x.name, nonce};
    auto signature =
        params.prover->sign(welcome_text(x.nonce, params.self, operator_party(x.name)));
    return welcome{params.self, params.incarnation, nonce, signature};
  }

  /// A proven operator gets a console of its own from the inspector.
  caf::result<caf::actor> on_operator_proof(const operator_proof& x) {
    auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
    auto i = pending_operators.find(sender);
    if (i == pending_operators.end() || i->second.first != x.name)
      return refuse_operator(x.name, "shell refused: proof without a matching hello");
    auto nonce = std::move(i->second.second);
    pending_operators.erase(i);
    auto text = proof_text(nonce, operator_party(x.name), params.self);
    if (!params.prover->verify_operator(x.name, text, x.signature))
      return refuse_operator(x.name, "shell refused: it could not prove it is operator " + x.name);
    // Before the promise: making one moves the sender out of the current message.
    auto shell = caf::actor_cast<caf::actor>(self->current_sender());
    auto rp = self->make_response_promise();
    rp.delegate(params.inspector, console_atom::value, x.name, std::move(shell));
    return rp;
  }

  /// Another node's inspector asks for ours (the shell's `cluster`).
  caf::result<node_status> on_status_query(const status_query& x) {
    if (!came_over_link(x.from))
      return refuse(x.from, "dropped a status query not sent over its own link");
    auto rp = self->make_response_promise();
    rp.delegate(params.inspector, status_atom::value);
    return rp;
  }

  std::vector<link_status> status() const {
    std::vector<link_status> out;
    auto me = rank(params.self);
    for (const auto& n : params.nodes) {
      if (n.name == params.self)
        continue;
      link_status x;
      x.node = n.name;
      x.linked = links.count(n.name) > 0;
      x.dialer = rank(n.name) > me;
      if (auto i = records.find(n.name); i != records.end()) {
        x.since_us = i->second.since_us;
        x.links = i->second.links;
        x.problem = i->second.problem;
      }
      out.push_back(std::move(x));
    }
    return out;
  }

  actor_info info() const {
    auto out = describe_actor(self, params.self + " peer", "peer", counters);
    std::string linked;
    for (const auto& [node, gateway] : links)
      linked += (linked.empty() ? "" : ", ") + node;
    out.state = {{"linked", linked.empty() ? "none" : linked},
                 {"transport", params.prover ? "TLS, proven identities" : "plain (no TLS)"},
                 {"incarnation", incarnation_text(params.incarnation)},
                 {"subscribers", std::to_string(subscribers.size())},
                 {"routes", std::to_string(routes.size())},
                 {"pending handshakes", std::to_string(pending.size() + pending_operators.size())},
                 {"shells refused", std::to_string(operator_refusals)}};
    return out;
  }

  caf::result<welcome> on_hello(const hello& x) {
    auto r = rank(x.node);
    auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
    if (r < 0)
      return refuse(x.node, "hello from unknown node '" + x.node + "'");
    if (x.node == params.self)
      return refuse(x.node, "hello from a node claiming to be this one");
    if (r > rank(params.self))
      return refuse(x.node, "hello from a lower node (only higher nodes dial)");
    if (!x.gateway || x.gateway.address() != sender)
      return refuse(x.node, "hello whose gateway is not its sender");
    auto nonce = make_nonce();
    if (!params.prover) {
      add_link(x.node, x.gateway, x.incarnation);
      return welcome{params.self, params.incarnation, nonce, {}};
    }
    // Bounded: a flood of hellos that never prove anything cannot grow it; a real
    // handshake completes within a round trip, so dropping one stale entry is enough.
    if (pending.size() >= max_pending)
      pending.erase(pending.begin());
    pending[sender] = pending_hello{x.node, x.gateway, x.incarnation, nonce};
    auto signature = params.prover->sign(welcome_text(x.nonce, params.self, x.node));
    return welcome{params.self, params.incarnation, nonce, signature};
  }

  caf::result<void> on_proof(const proof& x) {
    auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
    auto i = pending.find(sender);
    if (i == pending.end() || i->second.node != x.node)
      return refuse(x.node, "proof without a matching hello");
    auto claimed = std::move(i->second);
    pending.erase(i);
    if (!params.prover->verify(claimed.node, proof_text(claimed.nonce, claimed.node, params.self),
                               x.signature))
      return refuse(claimed.node, "refused: it could not prove it is " + claimed.node);
    add_link(claimed.node, claimed.gateway, claimed.incarnation);
    return caf::unit;
  }

  /// True when `from` has a link and the current message came over it.
  bool came_over_link(const std::string& from) {
    auto i = links.find(from);
    auto sender = self->current_sender();
    return i != links.end() && sender != nullptr && sender->node() == i->second.node();
  }

  template <class Message>
  void route(const Message& msg) {
    if (!came_over_link(msg.from)) {
      ++counters.errors;
      complain(msg.from, "dropped a message not sent over its own link");
      return;
    }
    auto i = routes.find(msg.duty);
    if (i == routes.end()) {
      ++counters.errors;
      complain(msg.from, "dropped a message for unknown duty '" + msg.duty + "'");
      return;
    }
    self->send(i->second, msg);
  }

  /// Keeps the link to a lower node up: connect, handshake, wait for loss, back off.
  co::task dial(co::scope& coros, node_entry peer) {
    auto backoff = params.channel.reconnect_min;
    auto t = params.connect_timeout;
    auto checker = spawn_checker(self->system(), params.checks);
    self->link_to(checker);
    for (;;) {
      std::string problem;
      auto reach = co_await co::request<check_status, std::string>(
          coros, checker, t + t, check_atom::value, peer.host, peer.port,
          static_cast<int64_t>(t.count()));
      if (!reach) {
        problem = "reachability check failed: " + self->system().render(reach.error());
      } else if (std::get<0>(*reach) != check_status::ok) {
        problem = std::get<1>(*reach);
      } else {
        auto conn =
            co_await co::request<caf::node_id, caf::strong_actor_ptr, std::set<std::string>>(
                coros, params.connector, t + t, caf::connect_atom::value, peer.host, peer.port);
        if (!conn) {
          problem = "connect: " + self->system().render(conn.error());
        } else if (!std::get<1>(*conn)) {
          problem = "nothing published at " + peer.host + ":" + std::to_string(peer.port);
        } else {
          auto gateway = caf::actor_cast<caf::actor>(std::get<1>(*conn));
          auto nonce = make_nonce();
          auto greeting = hello{params.self, caf::actor{self}, params.incarnation, nonce};
          auto answer = co_await co::request<welcome>(coros, gateway, t, greeting);
          if (!answer) {
            problem = "handshake: " + self->system().render(answer.error());
          } else if (answer->node != peer.name) {
            problem =
                peer.host + ":" + std::to_string(peer.port) + " is node '" + answer->node + "'";
          } else if (params.prover &&
                     !params.prover->verify(peer.name, welcome_text(nonce, peer.name, params.self),
                                            answer->signature)) {
            problem = "refused: it could not prove it is " + peer.name;
          } else if (params.prover) {
            auto mine =
                proof{params.self,
                      params.prover->sign(proof_text(answer->nonce, params.self, peer.name))};
            auto accepted = co_await co::request<void>(coros, gateway, t, mine);
            if (!accepted)
              problem = "our proof was refused: " + self->system().render(accepted.error());
          }
          if (problem.empty()) {
            add_link(peer.name, gateway, answer->incarnation);
            backoff = params.channel.reconnect_min;
            while (links.count(peer.name) > 0 && links[peer.name] == gateway)
              co_await lost[peer.name].wait(coros, std::chrono::hours{1});
            continue;
          }
        }
      }
      complain(peer.name, problem + "; retrying");
      co_await co::sleep(coros, backoff);
      backoff = std::min(backoff * 2, params.channel.reconnect_max);
    }
  }

  void start() {
    auto me = rank(params.self);
    for (auto& node : params.nodes) {
      if (node.name != params.self)
        records[node.name].problem =
            rank(node.name) > me ? "not dialed yet" : "not dialed by it yet";
      if (rank(node.name) > me)
        dial(coros, node);
    }
  }
};

} // namespace

caf::actor spawn_peer(caf::actor_system& sys, peer_params params) {
  return sys.spawn(
      [](caf::stateful_actor<peer_state>* self, peer_params p) -> caf::behavior {
        auto& st = self->state;
        st.params = std::move(p);
        drop_unexpected(self, st.params.self + " peer", st.counters);
        self->set_down_handler([self](caf::down_msg& msg) { self->state.on_down(msg); });
        st.start();
        return counted(
            st.counters, [self](const hello& x) { return self->state.on_hello(x); },
            [self](const proof& x) { return self->state.on_proof(x); },
            [self](const ping& x) {
              return pong{self->state.params.self, x.seq};
            },
            [self](const claim& x) { self->state.route(x); },
            [self](const released& x) { self->state.route(x); },
            [self](const refused& x) { self->state.route(x); },
            [self](const stepped_down& x) { self->state.route(x); },
            [self](const resumed& x) { self->state.route(x); },
            [self](const status_query& x) { return self->state.on_status_query(x); },
            [self](const operator_hello& x) { return self->state.on_operator_hello(x); },
            [self](const operator_proof& x) { return self->state.on_operator_proof(x); },
            [self](subscribe_atom, caf::actor who) { self->state.subscribe(std::move(who)); },
            [self](status_atom) {
              return std::make_tuple(self->state.status(), self->state.operator_refusals);
            },
            [self](inspect_atom) { return self->state.info(); },
            [self](route_atom, const std::string& duty, caf::actor leader) {
              self->state.routes[duty] = std::move(leader);
            });
      },
      std::move(params));
}

} // namespace montana
