#include "runtime/channel.hpp"

#include "runtime/io_thread.hpp"
#include "runtime/tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <optional>
#include <set>

namespace montana {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;
template <class T>
using awaitable = asio::awaitable<T>;

/// A link whose peer does not read: its queued frames past this close it.
constexpr size_t max_queued_bytes = 8 << 20;
/// After a failed accept (out of descriptors, say), before the next.
constexpr std::chrono::milliseconds accept_pause{100};

auto on_error(error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

/// One line for a socket or TLS error.
std::string describe(const error_code& ec) {
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
      ec == asio::error::connection_reset)
    return "closed by the other end";
  return ec.message();
}

std::string endpoint_text(const tcp::endpoint& ep) {
  auto address = ep.address().to_string();
  return (ep.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(ep.port());
}

/// Whether a dial to `to` may leave from `source`, an address this node listens on: a loopback
/// source reaches only loopback (a node behind a relay listens on 127.0.0.1 and dials the other
/// nodes' public addresses), and the families must match.
bool may_leave_from(const asio::ip::address& source, const asio::ip::address& to) {
  return !source.is_unspecified() && source.is_v6() == to.is_v6() &&
         (!source.is_loopback() || to.is_loopback());
}

/// Where SSL objects keep a pointer to their connection, for the certificate callback.
int connection_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

} // namespace

/// One TCP connection, from accept or the start of a dial until it is closed.
struct connection {
  connection(asio::io_context& io, std::shared_ptr<asio::ssl::context> context)
      : ctx(std::move(context)), stream(io, *ctx), resolver(io), deadline(io), wake(io), beat(io) {}

  // First: the stream uses it.
  std::shared_ptr<asio::ssl::context> ctx;
  asio::ssl::stream<tcp::socket> stream;
  tcp::resolver resolver;
  /// Closes the connection when it expires; see `deadline_reason`. On an open link it is moved
  /// only when it expires, to `connection_timeout` after `heard`: a frame costs no timer change.
  asio::steady_timer deadline;
  std::string deadline_reason;
  /// Wakes the writer when a frame is queued.
  asio::steady_timer wake;
  asio::steady_timer beat;
  /// When the last frame came in, and when the last one was queued to go out.
  clock_type::time_point heard;
  clock_type::time_point sent;
  std::deque<std::string> out;
  size_t out_bytes = 0;
  /// The link id once open.
  uint64_t id = 0;
  bool dialed = false;
  /// Dialer: the node dialed. Both: the node the certificate proved, once it did.
  std::string expected;
  std::string node;
  /// Why the peer's certificate was refused.
  std::string problem;
  /// The remote address ("host:port" dialed, or the accepted peer's address).
  std::string remote;
  bool open = false;
  bool closed = false;
  std::string reason;

  void set_deadline(std::chrono::milliseconds d, std::string why) {
    deadline_reason = std::move(why);
    deadline.expires_after(d);
  }

  void shut(std::string why) {
    if (closed)
      return;
    closed = true;
    reason = std::move(why);
    error_code ignored;
    resolver.cancel();
    stream.lowest_layer().close(ignored);
    deadline.cancel();
    wake.cancel();
    beat.cancel();
  }

  void enqueue(std::string bytes) {
    if (closed)
      return;
    if (out_bytes + bytes.size() > max_queued_bytes)
      return shut("over " + std::to_string(max_queued_bytes >> 20) +
                  " MiB queued for it: it does not read");
    out_bytes += bytes.size();
    out.push_back(std::move(bytes));
    sent = clock_type::now();
    wake.cancel();
  }
};

struct tls_channel::core : std::enable_shared_from_this<core> {
  core(asio::io_context& context, channel_params p)
      : io(context), params(std::move(p)), acceptor(context),
        heartbeat_bytes(wire::encode(wire::frame{wire::heartbeat{}})) {}

  asio::io_context& io;
  channel_params params;
  tcp::acceptor acceptor;
  caf::actor sink;
  bool stopping = false;
  std::shared_ptr<asio::ssl::context> context;
  uint64_t context_generation = 0;
  const std::string heartbeat_bytes;
  uint64_t next_id = 1;
  /// Open links by id, and the open link of each node.
  std::map<uint64_t, std::shared_ptr<connection>> by_id;
  std::map<std::string, std::shared_ptr<connection>> current;
  /// Every connection not closed yet, so that stop() can close them.
  std::set<std::shared_ptr<connection>> live;
  /// Unauthenticated connections, in all and per remote address.
  int pending = 0;
  std::map<std::string, int> pending_by_host;
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> incompatible{0};
  /// When each log key was last written: at most one line per key per minute.
  std::map<std::string, clock_type::time_point> logged;

  int rank(const std::string& node) const {
    auto i = std::find_if(params.nodes.begin(), params.nodes.end(),
                          [&](const node_entry& e) { return e.name == node; });
    return i == params.nodes.end() ? -1 : static_cast<int>(i - params.nodes.begin());
  }

  const node_entry& me() const { return params.nodes.at(static_cast<size_t>(rank(params.self))); }

  /// Logs `line` unless the same `key` was logged within the last minute.
  void note(const std::string& key, const std::string& line) {
    auto now = clock_type::now();
    auto [i, fresh] = logged.try_emplace(key, now);
    if (!fresh && now - i->second < std::chrono::minutes{1})
      return;
    i->second = now;
    spdlog::warn("[{}] channel: {}", params.self, line);
  }

  /// The TLS context for new connections, rebuilt when this node's key or certificate changed
  /// (a rebuild that fails keeps the previous context).
  std::shared_ptr<asio::ssl::context> tls_context() {
    auto own = params.identities->own();
    if (context && own.generation == context_generation)
      return context;
    try {
      context = make_tls_context(own.key_pem, own.certificate_pem, &core::judge, this);
    } catch (const std::exception& e) {
      if (!context)
        throw;
      note("context", std::string{"kept the previous key and certificate: "} + e.what());
    }
    context_generation = own.generation;
    return context;
  }

  /// OpenSSL's verdict on a peer's certificate: it must carry a registered node's key (and, when
  /// dialing, the key of the node dialed).
  static int judge(X509_STORE_CTX* store, void* arg) {
    auto* self = static_cast<core*>(arg);
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* c = ssl ? static_cast<connection*>(SSL_get_ex_data(ssl, connection_index())) : nullptr;
    auto* cert = X509_STORE_CTX_get0_cert(store);
    if (c == nullptr || cert == nullptr)
      return 0;
    auto name = self->params.identities->identify(*cert, c->problem);
    if (!name.empty() && !c->expected.empty() && name != c->expected) {
      c->problem = c->remote + " is node '" + name + "', not " + c->expected;
      name.clear();
    }
    if (name.empty()) {
      X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
      return 0;
    }
    c->node = name;
    return 1;
  }

  std::shared_ptr<connection> make_connection() {
    auto c = std::make_shared<connection>(io, tls_context());
    SSL_set_ex_data(c->stream.native_handle(), connection_index(), c.get());
    live.insert(c);
    return c;
  }

  void emit(auto message) {
    if (sink)
      caf::anon_send(sink, std::move(message));
  }

  /// Closes the connection when its deadline passes: the handshake's, then an open link's
  /// silence. An open link that heard a frame since is due `connection_timeout` after it; one
  /// with bytes waiting to be read is not silent either: this thread was slow to read them (a
  /// busy host).
  awaitable<void> watch_deadline(std::shared_ptr<connection> c) {
    while (!c->closed) {
      error_code ec;
      co_await c->deadline.async_wait(on_error(ec));
      auto now = clock_type::now();
      if (c->closed || c->deadline.expiry() > now)
        continue;
      if (c->open && c->heard + params.settings.connection_timeout > now) {
        c->deadline.expires_at(c->heard + params.settings.connection_timeout);
        continue;
      }
      auto waiting = c->stream.lowest_layer().available(ec);
      if (c->open && !ec && waiting + SSL_pending(c->stream.native_handle()) > 0)
        c->set_deadline(params.settings.connection_timeout, c->deadline_reason);
      else
        c->shut(c->deadline_reason);
    }
  }

  awaitable<void> write_loop(std::shared_ptr<connection> c) {
    while (!c->closed) {
      if (c->out.empty()) {
        error_code ec;
        c->wake.expires_at(clock_type::time_point::max());
        co_await c->wake.async_wait(on_error(ec));
        continue;
      }
      error_code ec;
      co_await asio::async_write(c->stream, asio::buffer(c->out.front()), on_error(ec));
      if (ec) {
        c->shut("write: " + describe(ec));
        co_return;
      }
      c->out_bytes -= c->out.front().size();
      c->out.pop_front();
    }
  }

  /// A heartbeat whenever nothing went out for `heartbeat_interval`: any frame tells the other
  /// end that this one lives, so a link busy with pings and pongs carries fewer heartbeats.
  awaitable<void> heartbeat_loop(std::shared_ptr<connection> c) {
    while (!c->closed) {
      error_code ec;
      c->beat.expires_at(c->sent + params.settings.heartbeat_interval);
      co_await c->beat.async_wait(on_error(ec));
      if (clock_type::now() >= c->sent + params.settings.heartbeat_interval)
        c->enqueue(heartbeat_bytes);
    }
  }

  /// The body of the next frame; nullopt once the connection is closed (with its reason).
  awaitable<std::optional<std::string>> read_body(std::shared_ptr<connection> c) {
    std::array<unsigned char, wire::header_size> header{};
    error_code ec;
    co_await asio::async_read(c->stream, asio::buffer(header), on_error(ec));
    if (ec) {
      c->shut(describe(ec));
      co_return std::nullopt;
    }
    auto length = wire::body_length(header);
    if (length == 0 || length > wire::max_frame) {
      c->shut("a frame of " + std::to_string(length) + " bytes (at most " +
              std::to_string(wire::max_frame) + "): not a montana peer");
      co_return std::nullopt;
    }
    std::string body(length, '\0');
    co_await asio::async_read(c->stream, asio::buffer(body), on_error(ec));
    if (ec) {
      c->shut(describe(ec));
      co_return std::nullopt;
    }
    co_return body;
  }

  /// After TLS: both ends send a hello at once and check the other's. True when the link may
  /// open.
  awaitable<bool> exchange_hellos(std::shared_ptr<connection> c) {
    auto mine = wire::hello{wire::current, params.self, params.incarnation};
    c->enqueue(wire::encode(wire::frame{mine}));
    asio::co_spawn(io, write_loop(c), asio::detached);
    auto body = co_await read_body(c);
    if (!body)
      co_return false;
    auto got = wire::decode(*body, c->node);
    auto* theirs =
        got.result == wire::outcome::ok ? std::get_if<wire::hello>(&got.value.body) : nullptr;
    if (theirs == nullptr) {
      c->shut("no hello: " + (got.problem.empty() ? "another frame came first" : got.problem) +
              " (an older version?)");
      co_return false;
    }
    if (!wire::compatible(wire::current, theirs->ver)) {
      ++incompatible;
      c->shut("it speaks protocol " + wire::to_string(theirs->ver) + ", this node " +
              wire::to_string(wire::current) + ": not linked until both run a compatible version");
      co_return false;
    }
    if (theirs->node != c->node) {
      c->shut("its hello names '" + theirs->node + "' but its certificate is " + c->node + "'s");
      co_return false;
    }
    if (!c->dialed && rank(c->node) > rank(params.self)) {
      c->shut("it dialed, but only a higher node dials a lower one");
      co_return false;
    }
    c->open = true;
    c->id = next_id++;
    if (auto old = current.find(c->node); old != current.end())
      finish(old->second, "replaced by a new connection from " + c->node);
    current[c->node] = c;
    by_id[c->id] = c;
    emit(link_opened{c->node, c->id, theirs->incarnation, wire::to_string(theirs->ver), c->dialed});
    co_return true;
  }

  /// An open link's frames until it closes.
  awaitable<void> run_link(std::shared_ptr<connection> c) {
    asio::co_spawn(io, heartbeat_loop(c), asio::detached);
    auto timeout = params.settings.connection_timeout;
    c->heard = clock_type::now();
    c->set_deadline(timeout, "nothing heard for " + std::to_string(timeout.count()) + " ms");
    for (;;) {
      auto body = co_await read_body(c);
      if (!body)
        break;
      c->heard = clock_type::now();
      auto got = wire::decode(*body, c->node);
      if (got.result == wire::outcome::unknown_type) {
        note(c->node + " unknown", c->node + " sent " + got.problem + ": ignored");
        continue;
      }
      if (got.result == wire::outcome::malformed) {
        c->shut("it sent " + got.problem);
        break;
      }
      if (std::holds_alternative<wire::heartbeat>(got.value.body))
        continue;
      if (std::holds_alternative<wire::hello>(got.value.body)) {
        c->shut("it sent a second hello");
        break;
      }
      auto in = inbound{c->node, c->id, std::move(got.value)};
      emit(std::move(in));
    }
    finish(c, c->reason);
  }

  /// Closes `c` and, when it was an open link, tells the sink (once). By value: `c` may be the
  /// very entry of `current` this erases.
  void finish(std::shared_ptr<connection> c, const std::string& reason) {
    c->shut(reason);
    live.erase(c);
    if (!c->open)
      return;
    c->open = false;
    by_id.erase(c->id);
    if (auto i = current.find(c->node); i != current.end() && i->second == c)
      current.erase(i);
    emit(link_closed{c->node, c->id, reason});
  }

  /// Holds one of the unauthenticated slots of `host` until released or destroyed.
  struct pending_slot {
    core& owner;
    std::string host;
    bool held = true;

    void release() {
      if (!held)
        return;
      held = false;
      --owner.pending;
      if (--owner.pending_by_host[host] == 0)
        owner.pending_by_host.erase(host);
    }
    ~pending_slot() { release(); }
  };

  void refuse(const std::string& host, const std::string& why) {
    ++refused;
    note("refused " + host + " " + why, "refused a connection from " + host + ": " + why);
  }

  awaitable<void> accept_session(std::shared_ptr<connection> c, std::string host) {
    auto self = shared_from_this();
    ++pending;
    ++pending_by_host[host];
    pending_slot slot{*this, host};
    c->set_deadline(params.settings.handshake_timeout,
                    "no handshake within " +
                        std::to_string(params.settings.handshake_timeout.count()) + " ms");
    asio::co_spawn(io, watch_deadline(c), asio::detached);
    error_code ec;
    co_await c->stream.async_handshake(asio::ssl::stream_base::server, on_error(ec));
    if (ec || c->closed) {
      auto why = c->closed ? c->reason : c->problem.empty() ? describe(ec) : c->problem;
      refuse(host, "TLS: " + why);
      finish(c, why);
      co_return;
    }
    if (!co_await exchange_hellos(c)) {
      emit(link_failed{c->node, c->reason});
      finish(c, c->reason);
      co_return;
    }
    slot.release();
    co_await run_link(c);
  }

  awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopping) {
      auto c = make_connection();
      error_code ec;
      co_await acceptor.async_accept(c->stream.lowest_layer(), on_error(ec));
      if (stopping || ec == asio::error::operation_aborted) {
        finish(c, "stopping");
        co_return;
      }
      if (ec) {
        live.erase(c);
        note("accept", "accept failed: " + ec.message());
        asio::steady_timer pause{io, accept_pause};
        co_await pause.async_wait(on_error(ec));
        continue;
      }
      close_on_exec(c->stream.lowest_layer().native_handle());
      error_code ignored;
      auto remote = c->stream.lowest_layer().remote_endpoint(ignored);
      auto host = remote.address().to_string();
      c->remote = endpoint_text(remote);
      c->stream.lowest_layer().set_option(tcp::no_delay{true}, ignored);
      if (pending >= params.settings.max_handshakes) {
        refuse(host, "over " + std::to_string(params.settings.max_handshakes) +
                         " connections in their handshake");
        finish(c, "over the handshake limit");
        continue;
      }
      if (pending_by_host[host] >= params.settings.max_handshakes_per_host) {
        refuse(host, "over " + std::to_string(params.settings.max_handshakes_per_host) +
                         " connections from it in their handshake");
        finish(c, "over the handshake limit of its address");
        continue;
      }
      asio::co_spawn(io, accept_session(c, host), asio::detached);
    }
  }

  /// Resolves, connects (from this node's own address when it has one that reaches the peer)
  /// and runs TLS; "" once TLS is up, else the problem.
  awaitable<std::string> connect(std::shared_ptr<connection> c, const node_entry& peer) {
    error_code ec;
    auto endpoints =
        co_await c->resolver.async_resolve(peer.host, std::to_string(peer.port), on_error(ec));
    if (c->closed)
      co_return c->reason;
    if (ec)
      co_return "cannot resolve " + peer.host + ": " + ec.message();
    auto local = me().bind.empty() ? me().host : me().bind;
    error_code parse;
    auto source = asio::ip::make_address(local, parse);
    std::string problem = "no address";
    for (const auto& entry : endpoints) {
      auto& socket = c->stream.lowest_layer();
      error_code ignored;
      socket.close(ignored);
      socket.open(entry.endpoint().protocol(), ec);
      close_on_exec(socket.native_handle());
      if (!ec && !parse && may_leave_from(source, entry.endpoint().address()))
        socket.bind(tcp::endpoint{source, 0}, ec);
      if (ec) {
        problem = "cannot bind to " + local + ": " + ec.message();
        continue;
      }
      co_await socket.async_connect(entry.endpoint(), on_error(ec));
      if (c->closed)
        co_return c->reason;
      if (!ec) {
        problem.clear();
        break;
      }
      problem = "connect: " + describe(ec);
    }
    if (!problem.empty())
      co_return problem;
    error_code ignored;
    c->stream.lowest_layer().set_option(tcp::no_delay{true}, ignored);
    co_await c->stream.async_handshake(asio::ssl::stream_base::client, on_error(ec));
    if (c->closed)
      co_return c->reason;
    if (ec)
      co_return "TLS: " + (c->problem.empty() ? describe(ec) : c->problem);
    co_return std::string{};
  }

  /// Keeps the link to a lower node up for as long as the channel runs.
  awaitable<void> dial_loop(node_entry peer) {
    auto self = shared_from_this();
    auto backoff = params.settings.reconnect_min;
    asio::steady_timer pause{io};
    while (!stopping) {
      auto c = make_connection();
      c->dialed = true;
      c->expected = peer.name;
      c->remote = peer.host + ":" + std::to_string(peer.port);
      c->set_deadline(params.settings.handshake_timeout,
                      "no handshake within " +
                          std::to_string(params.settings.handshake_timeout.count()) + " ms");
      asio::co_spawn(io, watch_deadline(c), asio::detached);
      auto problem = co_await connect(c, peer);
      if (problem.empty() && !co_await exchange_hellos(c))
        problem = c->reason;
      if (problem.empty()) {
        co_await run_link(c);
        backoff = params.settings.reconnect_min;
      } else {
        finish(c, problem);
        if (stopping)
          co_return;
        emit(link_failed{peer.name, problem + "; retrying"});
      }
      error_code ec;
      pause.expires_after(backoff);
      co_await pause.async_wait(on_error(ec));
      backoff = std::min(backoff * 2, params.settings.reconnect_max);
    }
  }

  void start(caf::actor to) {
    sink = std::move(to);
    asio::co_spawn(io, accept_loop(), asio::detached);
    auto mine = rank(params.self);
    for (const auto& peer : params.nodes)
      if (rank(peer.name) > mine)
        asio::co_spawn(io, dial_loop(peer), asio::detached);
  }

  void stop() {
    stopping = true;
    sink = nullptr;
    error_code ignored;
    acceptor.close(ignored);
    for (auto c : std::set<std::shared_ptr<connection>>{live})
      finish(c, "this node stops");
  }
};

tls_channel::tls_channel(asio::io_context& io, channel_params params)
    : core_(std::make_shared<core>(io, std::move(params))) {
  auto& me = core_->me();
  auto bind = me.bind.empty() ? me.host : me.bind;
  auto where = bind + ":" + std::to_string(me.port);
  error_code ec;
  auto address = asio::ip::make_address(bind, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + where + ": not an IP address");
  tcp::endpoint endpoint{address, me.port};
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
    throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  // Fails now on a bad key or certificate rather than at the first connection.
  core_->tls_context();
}

tls_channel::~tls_channel() = default;

void tls_channel::start(caf::actor sink) {
  // The links live no longer than the actor that takes their events: when it exits (its node
  // failed, or stops), they drop at once and the other nodes judge this node dead.
  sink->attach_functor([weak = std::weak_ptr<core>{core_}] {
    if (auto c = weak.lock())
      asio::post(c->io, [c] { c->stop(); });
  });
  asio::post(core_->io,
             [core = core_, sink = std::move(sink)]() mutable { core->start(std::move(sink)); });
}

void tls_channel::stop() {
  std::promise<void> done;
  asio::post(core_->io, [core = core_, &done] {
    core->stop();
    done.set_value();
  });
  done.get_future().wait();
}

void tls_channel::send(uint64_t link, wire::frame f) {
  asio::post(core_->io, [core = core_, link, bytes = wire::encode(f)]() mutable {
    if (auto i = core->by_id.find(link); i != core->by_id.end())
      i->second->enqueue(std::move(bytes));
  });
}

void tls_channel::close(uint64_t link, std::string reason) {
  asio::post(core_->io, [core = core_, link, reason = std::move(reason)] {
    if (auto i = core->by_id.find(link); i != core->by_id.end())
      core->finish(i->second, reason);
  });
}

uint64_t tls_channel::refusals() const {
  return core_->refused.load();
}

uint64_t tls_channel::version_refusals() const {
  return core_->incompatible.load();
}

} // namespace montana
