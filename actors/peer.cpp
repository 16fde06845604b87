#include "actors/peer.hpp"

#include "actors/introspection.hpp"
#include "actors/link.hpp"
#include "actors/unexpected.hpp"
#include "messages/status_json.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>

namespace montana {

namespace {

/// Bound on the inspector's answer to another node's status query.
constexpr std::chrono::seconds status_timeout{3};

/// The link to one node, while it is up.
struct live_link {
  uint64_t id = 0;
  caf::actor actor;
};

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
  std::map<std::string, live_link> links;
  std::map<std::string, link_record> records;
  /// Incarnation each node had at its last link: a new one means it restarted.
  std::map<std::string, uint64_t> incarnations;
  std::map<std::string, caf::actor> routes;
  std::vector<caf::actor> subscribers;
  actor_counters counters;
  /// This host's network, as network_problem last said (or a link proved), and why.
  bool online = true;
  std::string network_detail;
  /// Last problem logged per node, so a dead peer costs one line, not one per retry.
  std::map<std::string, std::pair<std::string, caf::actor_clock::time_point>> last_complaint;

  explicit peer_state(caf::event_based_actor* self) : self(self) {}

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
    if (!online)
      self->send(who, network_changed{false, network_detail});
    for (auto& [node, link] : links)
      self->send(who, link_up{node, link.actor});
    subscribers.push_back(std::move(who));
  }

  void set_online(bool up, const std::string& detail) {
    if (up == online)
      return;
    online = up;
    network_detail = detail;
    spdlog::log(up ? spdlog::level::info : spdlog::level::warn, "[{}] peer: network {} ({})",
                params.self, up ? "back" : "down", detail);
    broadcast(network_changed{up, detail});
  }

  /// Checks this host's interfaces every network_poll: a holder cut off notices it before the
  /// others can judge it dead (their links need connection_timeout and a probe round).
  void poll_network() {
    if (params.network_problem)
      self->delayed_send(self, params.network_poll, network_atom::value);
  }

  void on_network_poll() {
    auto problem = params.network_problem();
    set_online(problem.empty(), problem.empty() ? "an interface has a carrier again" : problem);
    poll_network();
  }

  void on_opened(const link_opened& x) {
    // The channel keeps one link per node and closes the old one first; a stale entry here
    // would only mean its link_closed is still on the way.
    remove_link(x.node, "replaced by a new connection");
    auto actor =
        spawn_link(self->system(), link_params{params.self, x.node, x.link, params.channel});
    // Linked: the link actors end with the peer (node stop); a link that closes ends normally.
    self->link_to(actor);
    links[x.node] = live_link{x.link, actor};
    // Told before the link: a node back on the network starts over, then hears from it.
    set_online(true, "linked to " + x.node);
    auto& record = records[x.node];
    record.since_us = unix_us();
    ++record.links;
    record.problem.clear();
    last_complaint.erase(x.node);
    auto [known, first] = incarnations.try_emplace(x.node, x.incarnation);
    auto restarted = !first && known->second != x.incarnation;
    known->second = x.incarnation;
    spdlog::info("[{}] peer {}: linked{} (protocol {}, {})", params.self, x.node,
                 first       ? ""
                 : restarted ? " (it restarted)"
                             : " again (same run)",
                 x.version, x.dialed ? "dialed" : "accepted");
    broadcast(link_up{x.node, std::move(actor)});
  }

  void on_closed(const link_closed& x) {
    if (auto i = links.find(x.node); i != links.end() && i->second.id == x.link)
      remove_link(x.node, x.reason);
  }

  /// `node` is taken by value: callers may pass a string the erase below frees.
  void remove_link(std::string node, const std::string& reason) {
    auto i = links.find(node);
    if (i == links.end())
      return;
    self->send(i->second.actor, stop_atom::value);
    links.erase(i);
    auto& record = records[node];
    record.since_us = unix_us();
    record.problem = "link lost: " + reason;
    spdlog::info("[{}] peer {}: link lost: {}", params.self, node, reason);
    broadcast(link_down{node, reason});
  }

  /// Drops a frame this actor cannot use, with one (rate-limited) line naming the node.
  void drop(const inbound& x, const std::string& problem) {
    ++counters.errors;
    complain(x.node, "dropped " + problem);
  }

  void answer(const inbound& x, wire::message m) {
    if (x.frame.id == 0)
      return drop(x, "a request without an id");
    params.channel->send(x.link, wire::frame{std::move(m), 0, x.frame.id});
  }

  /// An answer to one of our requests: its link actor waits for it.
  void to_link(const inbound& x) {
    auto i = links.find(x.node);
    if (x.frame.re == 0 || i == links.end())
      return drop(x, "an answer to no request");
    self->send(i->second.actor, x);
  }

  template <class Message>
  void route(const inbound& x, const Message& msg) {
    auto i = routes.find(msg.duty);
    if (i == routes.end())
      return drop(x, "a message for unknown duty '" + msg.duty + "'");
    self->send(i->second, msg);
  }

  /// A claim or an answer between two nodes whose own link is down: passed on when we are
  /// linked to the receiver, else dropped (the sender repeats claims; answers come again with
  /// the claims they answer).
  void pass_on(const inbound& x, const relay& r) {
    if (r.to == params.self || r.to == x.node)
      return drop(x, "a relay to " + r.to);
    auto i = links.find(r.to);
    if (i == links.end())
      return;
    params.channel->send(i->second.id, wire::frame{relayed{params.self, r.origin, r.kind, r.duty,
                                                           r.term, r.highest}});
  }

  /// A relayed message counts as its origin's, as far as the relaying node vouches; not while
  /// the origin has a link of its own to us (it would have used it: the copy is stale).
  void on_relayed(const inbound& x, const relayed& r) {
    if (r.origin == params.self || rank(r.origin) < 0)
      return drop(x, "a relayed message from " + r.origin);
    if (links.count(r.origin) > 0)
      return;
    switch (r.kind) {
    case relay_kind::claim:
      return route(x, claim{r.duty, r.origin, r.term});
    case relay_kind::released:
      return route(x, released{r.duty, r.origin, r.term, r.highest});
    case relay_kind::refused:
      return route(x, refused{r.duty, r.origin, r.term, r.highest});
    }
  }

  /// Another node lost `target` and asks whether we still see it: we do while our link to it is
  /// up, i.e. it spoke to us within the connection timeout.
  probe_ack vouch(const probe_req& x) const {
    return probe_ack{params.self, x.target, links.count(x.target) > 0};
  }

  /// Another node's inspector asks for ours (the shell's `cluster`).
  void on_status_query(const inbound& x) {
    if (x.frame.id == 0)
      return drop(x, "a request without an id");
    auto channel = params.channel;
    auto link = x.link;
    auto id = x.frame.id;
    self->request(params.inspector, status_timeout, status_atom::value)
        .then(
            [channel, link, id](node_status& s) {
              channel->send(link, wire::frame{wire::status{std::move(s)}, 0, id});
            },
            [this, channel, link, id](caf::error& err) {
              channel->send(link, wire::frame{wire::failure{self->system().render(err)}, 0, id});
            });
  }

  void on_inbound(const inbound& x) {
    if (auto i = links.find(x.node); i == links.end() || i->second.id != x.link)
      return; // sent before its link was replaced or closed
    // Exhaustive: a message type added to the wire fails to compile here until it is handled.
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, wire::hello> || std::is_same_v<T, wire::heartbeat>)
            drop(x, "a link frame after the handshake"); // the channel consumes these
          else if constexpr (std::is_same_v<T, ping>)
            answer(x, pong{params.self, body.seq});
          else if constexpr (std::is_same_v<T, probe_req>)
            answer(x, vouch(body));
          else if constexpr (std::is_same_v<T, pong> || std::is_same_v<T, wire::status> ||
                             std::is_same_v<T, wire::failure> || std::is_same_v<T, probe_ack>)
            to_link(x);
          else if constexpr (std::is_same_v<T, status_query>)
            on_status_query(x);
          else if constexpr (std::is_same_v<T, relay>)
            pass_on(x, body);
          else if constexpr (std::is_same_v<T, relayed>)
            on_relayed(x, body);
          else
            route(x, body);
        },
        x.frame.body);
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
    for (const auto& [node, link] : links)
      linked += (linked.empty() ? "" : ", ") + node;
    out.state = {{"linked", linked.empty() ? "none" : linked},
                 {"network", online ? "up" : "down"},
                 {"protocol", wire::to_string(wire::current)},
                 {"incarnation", incarnation_text(params.incarnation)},
                 {"subscribers", std::to_string(subscribers.size())},
                 {"routes", std::to_string(routes.size())}};
    return out;
  }

  void start() {
    poll_network();
    auto me = rank(params.self);
    for (auto& node : params.nodes)
      if (node.name != params.self)
        records[node.name].problem =
            rank(node.name) > me ? "not dialed yet" : "not dialed by it yet";
  }
};

} // namespace

caf::actor spawn_peer(caf::actor_system& sys, peer_params params) {
  return sys.spawn(
      [](caf::stateful_actor<peer_state>* self, peer_params p) -> caf::behavior {
        auto& st = self->state;
        st.params = std::move(p);
        drop_unexpected(self, st.params.self + " peer", st.counters);
        st.start();
        return counted(
            st.counters, [self](const link_opened& x) { self->state.on_opened(x); },
            [self](const link_closed& x) { self->state.on_closed(x); },
            [self](const link_failed& x) { self->state.complain(x.node, x.problem); },
            [self](const inbound& x) { self->state.on_inbound(x); },
            [self](const ping& x) {
              return pong{self->state.params.self, x.seq};
            },
            [self](const probe_req& x) { return self->state.vouch(x); },
            [self](subscribe_atom, caf::actor who) { self->state.subscribe(std::move(who)); },
            [self](network_atom) { self->state.on_network_poll(); },
            [self](status_atom) { return self->state.status(); },
            [self](inspect_atom) { return self->state.info(); },
            [self](route_atom, const std::string& duty, caf::actor leader) {
              self->state.routes[duty] = std::move(leader);
            });
      },
      std::move(params));
}

} // namespace montana
