#include "runtime/status_http.hpp"

#include "actors/introspection.hpp"
#include "actors/unexpected.hpp"
#include "runtime/http.hpp"
#include "runtime/metrics.hpp"
#include "runtime/status_json.hpp"

#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <map>
#include <stdexcept>

namespace montana {

namespace {

/// A connection being served.
struct connection {
  std::string received;
  /// Set once the request was answered or refused: later bytes are ignored.
  bool answered = false;
};

struct status_http_state {
  static inline const char* name = "status-http";

  status_http_params params;
  std::map<int64_t, connection> connections;
  actor_counters counters;
  uint64_t requests = 0;
  uint64_t refused = 0;

  std::string tag() const { return params.self + " status-http"; }

  actor_info info(const caf::local_actor* self) const {
    auto out = describe_actor(self, tag(), "status-http", counters);
    out.state = {
        {"listen", params.host + ":" + std::to_string(params.port)},
        {"connections", std::to_string(connections.size())},
        {"requests", std::to_string(requests) + ", " + std::to_string(refused) + " refused"}};
    return out;
  }
};

using self_ptr = caf::io::stateful_broker<status_http_state>*;

void respond(self_ptr self, caf::io::connection_handle hdl, const std::string& response) {
  auto i = self->state.connections.find(hdl.id());
  if (i == self->state.connections.end())
    return; // the client left while the inspector answered
  i->second.answered = true;
  self->write(hdl, response.size(), response.data());
  self->flush(hdl);
  self->close(hdl);
  self->state.connections.erase(i);
}

void refuse(self_ptr self, caf::io::connection_handle hdl, int status, const std::string& why) {
  ++self->state.refused;
  ++self->state.counters.errors;
  respond(self, hdl, http_response(status, "text/plain; charset=utf-8", why + "\n"));
}

void serve(self_ptr self, caf::io::connection_handle hdl, const http_request& req) {
  ++self->state.requests;
  if (req.method != "GET" && req.method != "HEAD")
    return refuse(self, hdl, 405, "only GET and HEAD");
  auto head = req.method == "HEAD";
  if (req.path == "/") {
    respond(self, hdl,
            http_response(200, "text/plain; charset=utf-8",
                          "montana-actors " + self->state.params.self +
                              ": GET /metrics (Prometheus), GET /status (JSON)\n",
                          head));
    return;
  }
  if (req.path != "/metrics" && req.path != "/status")
    return refuse(self, hdl, 404, "no such path: try /metrics or /status");
  auto metrics = req.path == "/metrics";
  self->request(self->state.params.inspector, std::chrono::seconds{3}, status_atom::value)
      .then(
          [self, hdl, metrics, head](const node_status& status) {
            if (metrics)
              respond(self, hdl,
                      http_response(200, "text/plain; version=0.0.4; charset=utf-8",
                                    render_metrics(status), head));
            else
              respond(self, hdl,
                      http_response(200, "application/json", to_json(status).dump(2) + "\n", head));
          },
          [self, hdl](const caf::error& err) {
            refuse(self, hdl, 503, "the node did not answer: " + self->system().render(err));
          });
}

void on_data(self_ptr self, const caf::io::new_data_msg& msg) {
  auto i = self->state.connections.find(msg.handle.id());
  if (i == self->state.connections.end() || i->second.answered)
    return;
  auto& received = i->second.received;
  received.append(msg.buf.begin(), msg.buf.end());
  auto parsed = parse_http_head(received, status_http_limits::max_head);
  switch (parsed.result) {
  case http_parse::outcome::incomplete:
    return;
  case http_parse::outcome::bad:
    return refuse(self, msg.handle, parsed.status, parsed.reason);
  case http_parse::outcome::ok:
    i->second.answered = true;
    serve(self, msg.handle, parsed.request);
    return;
  }
}

caf::behavior status_http(self_ptr self, status_http_params params, caf::io::doorman_ptr doorman) {
  auto& st = self->state;
  st.params = std::move(params);
  self->add_doorman(std::move(doorman));
  drop_unexpected(self, st.tag(), st.counters);
  return counted(
      st.counters,
      [self](const caf::io::new_connection_msg& msg) {
        auto& st = self->state;
        if (st.connections.size() >= status_http_limits::max_connections) {
          ++st.refused;
          ++st.counters.errors;
          auto busy = http_response(503, "text/plain; charset=utf-8", "too many connections\n");
          self->write(msg.handle, busy.size(), busy.data());
          self->flush(msg.handle);
          self->close(msg.handle);
          return;
        }
        st.connections.emplace(msg.handle.id(), connection{});
        self->configure_read(msg.handle, caf::io::receive_policy::at_most(4096));
        self->delayed_send(self, status_http_limits::request_timeout, tick_atom::value,
                           msg.handle.id());
      },
      [self](const caf::io::new_data_msg& msg) { on_data(self, msg); },
      [self](const caf::io::connection_closed_msg& msg) {
        self->state.connections.erase(msg.handle.id());
      },
      [self](const caf::io::acceptor_closed_msg&) {
        spdlog::warn("[{}] the listening socket closed", self->state.tag());
      },
      [self](tick_atom, int64_t id) {
        auto i = self->state.connections.find(id);
        if (i != self->state.connections.end() && !i->second.answered)
          refuse(self, caf::io::connection_handle::from_int(id), 408,
                 "no complete request within " +
                     std::to_string(status_http_limits::request_timeout.count()) + " s");
      },
      [self](inspect_atom) { return self->state.info(self); });
}

} // namespace

caf::actor spawn_status_http(caf::actor_system& sys, status_http_params params) {
  auto doorman = sys.middleman().backend().new_tcp_doorman(params.port, params.host.c_str(), true);
  if (!doorman)
    throw std::runtime_error("cannot listen on " + params.host + ":" + std::to_string(params.port) +
                             " for [status]: " + sys.render(doorman.error()));
  params.port = (*doorman)->port();
  return sys.middleman().spawn_broker(status_http, std::move(params), std::move(*doorman));
}

} // namespace montana
