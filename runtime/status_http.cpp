#include "runtime/status_http.hpp"

#include "messages/status_json.hpp"
#include "runtime/io_bridge.hpp"
#include "runtime/io_thread.hpp"
#include "runtime/metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <future>
#include <stdexcept>

namespace montana {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::chrono::seconds inspector_timeout{3};

auto on_error(error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

http::response<http::string_body> response(http::status status, const std::string& type,
                                           std::string body, bool head = false) {
  http::response<http::string_body> out{status, 11};
  out.set(http::field::server, "montana-actors");
  out.set(http::field::content_type, type);
  out.keep_alive(false);
  out.body() = std::move(body);
  out.prepare_payload();
  if (head)
    out.body().clear();
  return out;
}

http::response<http::string_body> refusal(http::status status, const std::string& why) {
  return response(status, "text/plain; charset=utf-8", why + "\n");
}

} // namespace

struct status_http::core : std::enable_shared_from_this<core> {
  core(asio::io_context& context, caf::actor_system& system, status_http_params p)
      : io(context), sys(system), params(std::move(p)), acceptor(context) {}

  asio::io_context& io;
  caf::actor_system& sys;
  status_http_params params;
  tcp::acceptor acceptor;
  size_t connections = 0;

  std::string tag() const { return params.self + " status-http"; }

  /// The answer to one request.
  asio::awaitable<http::response<http::string_body>>
  answer(const http::request<http::empty_body>& req) {
    auto head = req.method() == http::verb::head;
    if (req.version() != 10 && req.version() != 11)
      co_return refusal(http::status::http_version_not_supported, "HTTP/1.0 or HTTP/1.1 only");
    if (req.method() != http::verb::get && !head)
      co_return refusal(http::status::method_not_allowed, "only GET and HEAD");
    auto target = std::string{req.target()};
    if (target == "/")
      co_return response(http::status::ok, "text/plain; charset=utf-8",
                         "montana-actors " + params.self +
                             ": GET /metrics (Prometheus), GET /status (JSON)\n",
                         head);
    if (target != "/metrics" && target != "/status")
      co_return refusal(http::status::not_found, "no such path: try /metrics or /status");
    auto status = co_await ask_actor<node_status>(io, sys, params.inspector, inspector_timeout,
                                                  status_atom::value);
    if (!status)
      co_return refusal(http::status::service_unavailable,
                        "the node did not answer: " + sys.render(status.error()));
    if (target == "/metrics")
      co_return response(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                         render_metrics(*status), head);
    co_return response(http::status::ok, "application/json", to_json(*status).dump(2) + "\n", head);
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    auto self = shared_from_this();
    // One deadline for the request: a slow client gets 408, never a thread or a loop. The timer
    // cancels the read (and leaves the socket open for the answer).
    asio::steady_timer deadline{io, status_http_limits::request_timeout};
    bool late = false;
    deadline.async_wait([&socket, &late](const error_code& ec) {
      if (!ec) {
        late = true;
        error_code ignored;
        socket.cancel(ignored);
      }
    });
    beast::flat_buffer buffer{status_http_limits::max_head};
    http::request_parser<http::empty_body> parser;
    parser.header_limit(status_http_limits::max_head);
    parser.body_limit(0);
    error_code ec;
    co_await http::async_read(socket, buffer, parser, on_error(ec));
    deadline.cancel();
    http::response<http::string_body> out;
    if (late)
      out = refusal(http::status::request_timeout,
                    "no complete request within " +
                        std::to_string(status_http_limits::request_timeout.count()) + " s");
    else if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
      out = refusal(http::status::request_header_fields_too_large,
                    "request head over " + std::to_string(status_http_limits::max_head) + " bytes");
    else if (ec == http::error::body_limit)
      out = refusal(http::status::payload_too_large, "a request body is not expected");
    else if (ec == http::error::bad_version)
      out = refusal(http::status::http_version_not_supported, "HTTP/1.0 or HTTP/1.1 only");
    else if (ec == http::error::end_of_stream || ec == asio::error::eof)
      co_return; // left without a request
    else if (ec)
      out = refusal(http::status::bad_request, "bad request: " + ec.message());
    else
      out = co_await answer(parser.get());
    // The answer gets its own bound: a client that does not read is dropped.
    asio::steady_timer write_deadline{io, status_http_limits::request_timeout};
    write_deadline.async_wait([&socket](const error_code& e) {
      if (!e) {
        error_code ignored;
        socket.close(ignored);
      }
    });
    co_await http::async_write(socket, out, on_error(ec));
    write_deadline.cancel();
    socket.shutdown(tcp::socket::shutdown_send, ec);
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      error_code ec;
      auto socket = co_await acceptor.async_accept(on_error(ec));
      if (ec == asio::error::operation_aborted)
        co_return;
      if (ec) {
        spdlog::warn("[{}] accept failed: {}", tag(), ec.message());
        asio::steady_timer pause{io, std::chrono::milliseconds{100}};
        co_await pause.async_wait(on_error(ec));
        continue;
      }
      close_on_exec(socket.native_handle());
      if (connections >= status_http_limits::max_connections) {
        auto busy = refusal(http::status::service_unavailable, "too many connections");
        co_await http::async_write(socket, busy, on_error(ec));
        continue;
      }
      ++connections;
      asio::co_spawn(io, serve(std::move(socket)),
                     [self](std::exception_ptr) { --self->connections; });
    }
  }
};

status_http::status_http(asio::io_context& io, caf::actor_system& sys, status_http_params params)
    : core_(std::make_shared<core>(io, sys, std::move(params))) {
  auto& p = core_->params;
  auto where = p.host + ":" + std::to_string(p.port);
  error_code ec;
  auto address = asio::ip::make_address(p.host, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + where + " for [status]: not an IP address");
  tcp::endpoint endpoint{address, p.port};
  auto& acceptor = core_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  close_on_exec(acceptor.native_handle());
  if (!ec)
    acceptor.set_option(tcp::acceptor::reuse_address{true}, ec);
  if (!ec)
    acceptor.bind(endpoint, ec);
  if (!ec)
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + where + " for [status]: " + ec.message());
  asio::co_spawn(io, core_->accept_loop(), asio::detached);
}

status_http::~status_http() = default;

void status_http::stop() {
  std::promise<void> done;
  asio::post(core_->io, [core = core_, &done] {
    error_code ignored;
    core->acceptor.close(ignored);
    done.set_value();
  });
  done.get_future().wait();
}

} // namespace montana
