#include "runtime/shell_endpoint.hpp"

#include "actors/console.hpp"
#include "messages/status_json.hpp"
#include "runtime/io_bridge.hpp"
#include "runtime/io_thread.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <deque>
#include <filesystem>
#include <future>
#include <set>
#include <stdexcept>

namespace montana {

namespace {

namespace asio = boost::asio;
using unix_socket = asio::local::stream_protocol;
using error_code = boost::system::error_code;

constexpr std::chrono::seconds console_timeout{5};
/// A shell that does not read what it asked for: its queued lines past this close it.
constexpr size_t max_queued_bytes = 8 << 20;

auto on_error(error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

/// "alice (uid 1000)", from the connection's peer credentials.
std::string operator_of(int fd) {
  ucred cred{};
  socklen_t size = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0)
    return "unknown";
  passwd entry{};
  passwd* found = nullptr;
  std::string buffer(16384, '\0');
  ::getpwuid_r(cred.uid, &entry, buffer.data(), buffer.size(), &found);
  auto uid = "uid " + std::to_string(cred.uid);
  return found != nullptr ? std::string{found->pw_name} + " (" + uid + ")" : uid;
}

/// One connected shell.
struct shell_connection {
  explicit shell_connection(asio::io_context& io) : socket(io), wake(io) {}

  unix_socket::socket socket;
  asio::steady_timer wake;
  std::deque<std::string> out;
  size_t out_bytes = 0;
  bool closed = false;

  void shut() {
    if (closed)
      return;
    closed = true;
    error_code ignored;
    socket.close(ignored);
    wake.cancel();
  }

  void enqueue(std::string line) {
    if (closed)
      return;
    if (out_bytes + line.size() > max_queued_bytes)
      return shut();
    out_bytes += line.size();
    out.push_back(std::move(line));
    wake.cancel();
  }
};

} // namespace

struct shell_endpoint::core : std::enable_shared_from_this<core> {
  core(asio::io_context& context, caf::actor_system& system, shell_endpoint_params p)
      : io(context), sys(system), params(std::move(p)), acceptor(context) {}

  asio::io_context& io;
  caf::actor_system& sys;
  shell_endpoint_params params;
  unix_socket::acceptor acceptor;
  std::set<std::shared_ptr<shell_connection>> shells;

  asio::awaitable<void> write_loop(std::shared_ptr<shell_connection> c) {
    while (!c->closed) {
      error_code ec;
      if (c->out.empty()) {
        c->wake.expires_at(std::chrono::steady_clock::time_point::max());
        co_await c->wake.async_wait(on_error(ec));
        continue;
      }
      co_await asio::async_write(c->socket, asio::buffer(c->out.front()), on_error(ec));
      if (ec)
        c->shut();
      else {
        c->out_bytes -= c->out.front().size();
        c->out.pop_front();
      }
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<shell_connection> c) {
    auto self = shared_from_this();
    auto who = operator_of(c->socket.native_handle());
    std::weak_ptr<shell_connection> weak = c;
    auto& context = io;
    auto sink = console_sink{[&context, weak](std::string line) {
      line += "\n";
      asio::post(context, [weak, line = std::move(line)]() mutable {
        if (auto c = weak.lock())
          c->enqueue(std::move(line));
      });
    }};
    auto console = co_await ask_actor<caf::actor>(io, sys, params.inspector, console_timeout,
                                                  console_atom::value, who, sink);
    if (!console) {
      spdlog::warn("[{}] shell of {} refused: no console: {}", params.self, who,
                   sys.render(console.error()));
      shells.erase(c);
      c->shut();
      co_return;
    }
    auto greeting = json{{"node", params.self}, {"operator", who}, {"version", params.version}};
    c->enqueue(greeting.dump() + "\n");
    asio::co_spawn(io, write_loop(c), asio::detached);
    asio::streambuf input{shell_limits::max_line};
    while (!c->closed) {
      error_code ec;
      auto n = co_await asio::async_read_until(c->socket, input, '\n', on_error(ec));
      if (ec) {
        if (ec == asio::error::not_found)
          spdlog::warn("[{}] shell of {}: a line over {} bytes: closed", params.self, who,
                       shell_limits::max_line);
        break;
      }
      std::string line{asio::buffers_begin(input.data()),
                       asio::buffers_begin(input.data()) + static_cast<std::ptrdiff_t>(n - 1)};
      input.consume(n);
      if (!line.empty())
        caf::anon_send(*console, shell_request{std::move(line)});
    }
    // A normal end: the console is linked to the inspector, which an error exit would take along.
    caf::anon_send(*console, stop_atom::value);
    shells.erase(c);
    c->shut();
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto c = std::make_shared<shell_connection>(io);
      error_code ec;
      co_await acceptor.async_accept(c->socket, on_error(ec));
      if (ec == asio::error::operation_aborted)
        co_return;
      if (ec) {
        spdlog::warn("[{}] shell socket: accept failed: {}", params.self, ec.message());
        asio::steady_timer pause{io, std::chrono::milliseconds{100}};
        co_await pause.async_wait(on_error(ec));
        continue;
      }
      close_on_exec(c->socket.native_handle());
      if (shells.size() >= shell_limits::max_shells) {
        if (params.refused)
          ++*params.refused;
        spdlog::warn("[{}] shell refused: {} shells are connected already", params.self,
                     shells.size());
        continue;
      }
      shells.insert(c);
      asio::co_spawn(io, serve(c), asio::detached);
    }
  }
};

shell_endpoint::shell_endpoint(asio::io_context& io, caf::actor_system& sys,
                               shell_endpoint_params params)
    : core_(std::make_shared<core>(io, sys, std::move(params))) {
  namespace fs = std::filesystem;
  const auto& path = core_->params.path;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("shell socket " + path + ": " + why);
  };
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    fail("the path is longer than a Unix socket allows (" +
         std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
  auto dir = fs::path{path}.parent_path();
  std::error_code fec;
  if (!dir.empty() && !fs::exists(dir, fec)) {
    fs::create_directories(dir, fec);
    if (fec)
      fail("cannot create its directory: " + fec.message());
    fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec, fec);
  }
  error_code ec;
  if (fs::is_socket(path, fec)) {
    // A live node answers on it; a file left by one that is gone refuses the connection.
    unix_socket::socket probe{io};
    probe.connect(unix_socket::endpoint{path}, ec);
    if (!ec)
      fail("another process serves it (is this node running already?)");
    fs::remove(path, fec);
  } else if (fs::exists(path, fec)) {
    fail("exists and is not a socket");
  }
  auto& acceptor = core_->acceptor;
  acceptor.open(unix_socket{}, ec);
  close_on_exec(acceptor.native_handle());
  if (!ec)
    acceptor.bind(unix_socket::endpoint{path}, ec);
  if (!ec && ::chmod(path.c_str(), 0660) != 0)
    ec = error_code{errno, boost::system::system_category()};
  if (!ec)
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    fail(ec.message());
  asio::co_spawn(io, core_->accept_loop(), asio::detached);
}

shell_endpoint::~shell_endpoint() {
  std::error_code ignored;
  std::filesystem::remove(core_->params.path, ignored);
}

void shell_endpoint::stop() {
  std::promise<void> done;
  asio::post(core_->io, [core = core_, &done] {
    error_code ignored;
    core->acceptor.close(ignored);
    for (const auto& c : core->shells)
      c->shut();
    done.set_value();
  });
  done.get_future().wait();
}

} // namespace montana
