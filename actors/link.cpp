#include "actors/link.hpp"

#include "actors/introspection.hpp"
#include "actors/unexpected.hpp"

#include <spdlog/spdlog.h>

#include <map>

namespace montana {

namespace {

struct link_state {
  static inline const char* name = "link";

  caf::event_based_actor* self;
  link_params params;
  uint64_t next_id = 1;
  /// Requests sent and not answered yet, oldest first (ids grow).
  std::map<uint64_t, caf::response_promise> waiting;
  actor_counters counters;

  explicit link_state(caf::event_based_actor* self) : self(self) {}

  /// The link is gone: nothing waiting will be answered.
  ~link_state() {
    for (auto& [id, rp] : waiting)
      rp.deliver(caf::make_error(caf::sec::request_receiver_down,
                                 "the link to " + params.node + " was lost"));
  }

  link_state(const link_state&) = delete;
  link_state& operator=(const link_state&) = delete;

  std::string tag() const { return params.self + " link " + params.node; }

  void send(wire::message m) { params.channel->send(params.link, wire::frame{std::move(m)}); }

  /// Sends `m` as a request; the answer (or the loss of the link) completes the promise.
  caf::response_promise request(wire::message m) {
    if (waiting.size() >= max_pending_requests) {
      waiting.begin()->second.deliver(
          caf::make_error(caf::sec::request_timeout, "too many requests waiting on the link"));
      waiting.erase(waiting.begin());
    }
    auto id = next_id++;
    params.channel->send(params.link, wire::frame{std::move(m), id});
    auto rp = self->make_response_promise();
    waiting.emplace(id, rp);
    return rp;
  }

  void on_answer(const inbound& x) {
    auto i = waiting.find(x.frame.re);
    if (i == waiting.end()) {
      ++counters.errors;
      return; // answered late, after the requester gave up and the link was replaced
    }
    auto rp = std::move(i->second);
    waiting.erase(i);
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, pong> || std::is_same_v<T, probe_ack>)
            rp.deliver(body);
          else if constexpr (std::is_same_v<T, wire::status>)
            rp.deliver(body.value);
          else if constexpr (std::is_same_v<T, wire::failure>)
            rp.deliver(caf::make_error(caf::sec::runtime_error, params.node + ": " + body.error));
          else
            rp.deliver(caf::make_error(caf::sec::unexpected_response,
                                       params.node + " answered with an unexpected message"));
        },
        x.frame.body);
  }

  actor_info info() const {
    auto out = describe_actor(self, tag(), "link", counters);
    out.state = {{"link", std::to_string(params.link)},
                 {"waiting requests", std::to_string(waiting.size())}};
    return out;
  }
};

} // namespace

caf::actor spawn_link(caf::actor_system& sys, link_params params) {
  return sys.spawn(
      [](caf::stateful_actor<link_state>* self, link_params p) -> caf::behavior {
        auto& st = self->state;
        st.params = std::move(p);
        drop_unexpected(self, st.tag(), st.counters);
        return counted(
            st.counters, [self](const ping& x) { return self->state.request(x); },
            [self](const status_query& x) { return self->state.request(x); },
            [self](const probe_req& x) { return self->state.request(x); },
            [self](const claim& x) { self->state.send(x); },
            [self](const released& x) { self->state.send(x); },
            [self](const refused& x) { self->state.send(x); },
            [self](const stepped_down& x) { self->state.send(x); },
            [self](const resumed& x) { self->state.send(x); },
            [self](const duty_state& x) { self->state.send(x); },
            [self](const relay& x) { self->state.send(x); },
            [self](const inbound& x) { self->state.on_answer(x); },
            // The link is gone: a normal end (the peer is linked to this actor).
            [self](stop_atom) { self->quit(); },
            [self](inspect_atom) { return self->state.info(); });
      },
      std::move(params));
}

} // namespace montana
