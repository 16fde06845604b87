// montana-wan-relay: WAN latency between test hosts, where the kernel has no `tc netem`. A TCP
// relay in front of one node (it listens on the node's `host`, the node on its `bind`) that
// holds every byte for a one-way delay plus jitter in each direction, and emulates what a long
// path does to a connection's set-up too: the node sees the connection one delay after the
// client dialed, the client may send only after a round trip, and a refused connection reaches
// the client as a reset one round trip after its dial. Bytes are never reordered within a
// connection: a chunk is released no earlier than the one read before it. Each connection's
// delay comes from the client's address (`--from`), so one relay gives every pair its own RTT.
//
//   montana-wan-relay --listen ADDR:PORT --to ADDR:PORT [--delay MS] [--jitter MS]
//                     [--from ADDR=MS[+JITTER]]... [--seed N]
//
// Prints "listening on ADDR:PORT" once it accepts; runs until SIGTERM or SIGINT.
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

volatile std::sig_atomic_t stopping = 0;

void on_stop(int) {
  stopping = 1;
}

/// Delay of one path, each direction.
struct path_delay {
  ms delay{0};
  ms jitter{0};
};

struct options {
  sockaddr_in listen{};
  sockaddr_in to{};
  path_delay fallback;
  /// Per client address (network order).
  std::map<uint32_t, path_delay> from;
  uint64_t seed = 0;
};

class usage_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

sockaddr_in parse_endpoint(const std::string& text, const std::string& what) {
  auto colon = text.rfind(':');
  sockaddr_in out{};
  out.sin_family = AF_INET;
  if (colon == std::string::npos ||
      ::inet_pton(AF_INET, text.substr(0, colon).c_str(), &out.sin_addr) != 1)
    throw usage_error(what + ": '" + text + "' is not IPv4-ADDRESS:PORT");
  auto port = std::strtol(text.c_str() + colon + 1, nullptr, 10);
  if (port < 1 || port > 65535)
    throw usage_error(what + ": port of '" + text + "' is not 1..65535");
  out.sin_port = htons(static_cast<uint16_t>(port));
  return out;
}

ms parse_ms(const std::string& text, const std::string& what) {
  char* end = nullptr;
  auto v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0 || v > 60000)
    throw usage_error(what + ": '" + text + "' is not a number of milliseconds (0..60000)");
  return ms{v};
}

options parse_options(int argc, char** argv) {
  options o;
  bool have_listen = false;
  bool have_to = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc)
      throw usage_error(flag + ": missing value");
    std::string value = argv[++i];
    if (flag == "--listen") {
      o.listen = parse_endpoint(value, flag);
      have_listen = true;
    } else if (flag == "--to") {
      o.to = parse_endpoint(value, flag);
      have_to = true;
    } else if (flag == "--delay") {
      o.fallback.delay = parse_ms(value, flag);
    } else if (flag == "--jitter") {
      o.fallback.jitter = parse_ms(value, flag);
    } else if (flag == "--seed") {
      o.seed = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--from") {
      auto eq = value.find('=');
      in_addr addr{};
      if (eq == std::string::npos || ::inet_pton(AF_INET, value.substr(0, eq).c_str(), &addr) != 1)
        throw usage_error("--from: '" + value + "' is not ADDRESS=MS[+JITTER]");
      auto spec = value.substr(eq + 1);
      auto plus = spec.find('+');
      path_delay d;
      d.delay = parse_ms(spec.substr(0, plus), "--from " + value);
      if (plus != std::string::npos)
        d.jitter = parse_ms(spec.substr(plus + 1), "--from " + value);
      o.from[addr.s_addr] = d;
    } else {
      throw usage_error("unknown option '" + flag + "'");
    }
  }
  if (!have_listen || !have_to)
    throw usage_error("--listen and --to are required");
  return o;
}

std::string endpoint_text(const sockaddr_in& a) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
  return std::string{text} + ":" + std::to_string(ntohs(a.sin_port));
}

/// What one chunk of a direction carries.
enum class chunk_kind { data, eof, reset };

struct chunk {
  steady::time_point due;
  chunk_kind kind = chunk_kind::data;
  std::string bytes;
};

/// One direction of a connection: what was read from one side, waiting to be written to the
/// other.
struct direction {
  std::deque<chunk> queue;
  size_t queued = 0;
  steady::time_point last_due{};
  /// Nothing more is read from the source (EOF, reset or error).
  bool source_done = false;
  /// Nothing more may be written to the destination (shut down or failed).
  bool sink_done = false;
  /// The destination took no more bytes; cleared when it signals readiness again.
  bool blocked = false;

  /// Nothing left to read or to deliver.
  bool done() const { return source_done && (sink_done || queue.empty()); }
  /// Its first chunk is due by `now` and can be written.
  bool ready(steady::time_point now) const {
    return !sink_done && !blocked && !queue.empty() && queue.front().due <= now;
  }
};

/// Bytes queued in one direction above which its source is no longer read.
constexpr size_t max_queued = 4 << 20;

struct connection {
  int client = -1;
  int upstream = -1;
  bool upstream_ready = false;
  /// When the relay dials the node: one delay after the client's dial.
  std::optional<steady::time_point> dial_at;
  /// When the client could first send on a real path: one round trip after its dial.
  steady::time_point open_at;
  path_delay path;
  direction up;   // client -> node
  direction down; // node -> client
  /// Registered epoll events per fd, to skip needless epoll_ctl calls.
  uint32_t client_events = 0;
  uint32_t upstream_events = 0;
  bool aborted = false;
};

class relay {
public:
  explicit relay(options o) : opts_(std::move(o)), rng_(opts_.seed) {}

  int run() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (epoll_ < 0 || listener_ < 0 ||
        ::bind(listener_, reinterpret_cast<const sockaddr*>(&opts_.listen), sizeof opts_.listen) !=
            0 ||
        ::listen(listener_, 128) != 0) {
      std::fprintf(stderr, "montana-wan-relay: cannot listen on %s: %s\n",
                   endpoint_text(opts_.listen).c_str(), std::strerror(errno));
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listener_;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
    std::printf("listening on %s\n", endpoint_text(opts_.listen).c_str());
    std::fflush(stdout);
    std::vector<epoll_event> events(64);
    while (stopping == 0) {
      auto n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), wait_ms());
      if (n < 0 && errno != EINTR) {
        std::perror("montana-wan-relay: epoll_wait");
        return 1;
      }
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == listener_)
          accept_all();
        else if (auto c = owner_.find(events[i].data.fd); c != owner_.end())
          on_ready(*c->second, events[i].data.fd);
      }
      advance();
    }
    return 0;
  }

private:
  /// Milliseconds until the earliest deadline of any connection; -1 if none.
  int wait_ms() const {
    std::optional<steady::time_point> next;
    auto consider = [&](steady::time_point t) {
      if (!next || t < *next)
        next = t;
    };
    auto waits = [](const direction& d) { return !d.sink_done && !d.blocked && !d.queue.empty(); };
    for (const auto& c : conns_) {
      if (c->dial_at)
        consider(*c->dial_at);
      // Before the node accepted, only a reset can leave the client's direction.
      if (waits(c->up) && (c->upstream_ready || c->up.queue.front().kind == chunk_kind::reset))
        consider(c->up.queue.front().due);
      if (waits(c->down))
        consider(c->down.queue.front().due);
    }
    if (!next)
      return -1;
    auto left = std::chrono::ceil<ms>(*next - steady::now()).count();
    return static_cast<int>(std::max<long>(left, 0));
  }

  ms sample_jitter(const path_delay& d) {
    if (d.jitter.count() == 0)
      return ms{0};
    return ms{std::uniform_int_distribution<long>{0, d.jitter.count()}(rng_)};
  }

  /// Queues `c` for `dir`, due `at` plus the path's jitter, never before the chunk before it.
  void push(connection& c, direction& dir, steady::time_point at, chunk_kind kind,
            std::string bytes = {}) {
    auto due = std::max(at + sample_jitter(c.path), dir.last_due);
    dir.last_due = due;
    dir.queued += bytes.size();
    dir.queue.push_back(chunk{due, kind, std::move(bytes)});
  }

  void accept_all() {
    for (;;) {
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      int fd = ::accept4(listener_, reinterpret_cast<sockaddr*>(&peer), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        return;
      auto c = std::make_unique<connection>();
      c->client = fd;
      auto known = opts_.from.find(peer.sin_addr.s_addr);
      c->path = known == opts_.from.end() ? opts_.fallback : known->second;
      auto now = steady::now();
      c->dial_at = now + c->path.delay;
      c->open_at = now + 2 * c->path.delay;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      owner_[fd] = c.get();
      conns_.push_back(std::move(c));
      watch(*conns_.back());
    }
  }

  void dial(connection& c) {
    c.dial_at.reset();
    c.upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(c.upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c.upstream >= 0 && (::connect(c.upstream, reinterpret_cast<const sockaddr*>(&opts_.to),
                                      sizeof opts_.to) == 0 ||
                            errno == EINPROGRESS)) {
      owner_[c.upstream] = &c;
      return;
    }
    upstream_failed(c);
  }

  /// The node refused or vanished: the client learns it one delay later, as a reset.
  void upstream_failed(connection& c) {
    close_fd(c.upstream);
    c.upstream = -1;
    c.upstream_events = 0;
    c.up.sink_done = true;
    c.up.queue.clear();
    c.up.queued = 0;
    c.down.source_done = true;
    push(c, c.down, steady::now() + c.path.delay, chunk_kind::reset);
  }

  void on_ready(connection& c, int fd) {
    (fd == c.client ? c.down : c.up).blocked = false;
    if (fd == c.upstream && !c.upstream_ready) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        upstream_failed(c);
        return;
      }
      c.upstream_ready = true;
    }
    if (fd == c.client)
      read_side(c, c.client, c.up, std::max(steady::now(), c.open_at) + c.path.delay);
    else
      read_side(c, c.upstream, c.down, steady::now() + c.path.delay);
  }

  /// Reads what `fd` has for `dir`, each chunk due at `due`.
  void read_side(connection& c, int fd, direction& dir, steady::time_point due) {
    while (!dir.source_done && dir.queued < max_queued) {
      char buf[16384];
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        push(c, dir, due, chunk_kind::data, std::string(buf, static_cast<size_t>(n)));
      } else if (n == 0) {
        dir.source_done = true;
        push(c, dir, due, chunk_kind::eof);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;
      } else if (errno != EINTR) {
        dir.source_done = true;
        push(c, dir, due, chunk_kind::reset);
      }
    }
  }

  /// Writes the due chunks of `dir` to `fd`; false when the connection must be aborted.
  bool flush(connection& c, direction& dir, int fd, steady::time_point now) {
    while (dir.ready(now)) {
      auto& front = dir.queue.front();
      if (front.kind == chunk_kind::reset)
        return false;
      if (front.kind == chunk_kind::eof) {
        ::shutdown(fd, SHUT_WR);
        dir.sink_done = true;
        dir.queue.pop_front();
        continue;
      }
      auto n = ::send(fd, front.bytes.data(), front.bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          dir.blocked = true;
          return true;
        }
        if (errno == EINTR)
          continue;
        // The destination is gone: the other side hears of it one delay later.
        dir.sink_done = true;
        auto& other = &dir == &c.up ? c.down : c.up;
        other.source_done = true;
        push(c, other, now + c.path.delay, chunk_kind::reset);
        return true;
      }
      dir.queued -= static_cast<size_t>(n);
      front.bytes.erase(0, static_cast<size_t>(n));
      if (front.bytes.empty())
        dir.queue.pop_front();
    }
    return true;
  }

  /// Timers and writes of every connection; drops finished ones.
  void advance() {
    auto now = steady::now();
    for (auto& c : conns_) {
      if (c->dial_at && *c->dial_at <= now)
        dial(*c);
      bool ok = true;
      if (c->upstream_ready)
        ok = flush(*c, c->up, c->upstream, now);
      else if (c->up.ready(now) && c->up.queue.front().kind == chunk_kind::reset)
        ok = false;
      ok = ok && flush(*c, c->down, c->client, now);
      if (!ok)
        abort(*c);
      else
        watch(*c);
    }
    std::erase_if(conns_, [&](const std::unique_ptr<connection>& c) {
      if (!c->aborted && !(c->up.done() && c->down.done()))
        return false;
      close_fd(c->client);
      close_fd(c->upstream);
      return true;
    });
  }

  /// Ends both sides with a reset.
  void abort(connection& c) {
    linger hard{1, 0};
    for (int fd : {c.client, c.upstream})
      if (fd >= 0)
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    c.aborted = true;
  }

  void close_fd(int fd) {
    if (fd < 0)
      return;
    owner_.erase(fd);
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
  }

  /// Registers what each side of `c` waits for: input while its direction takes more, output
  /// while a due chunk is blocked.
  void watch(connection& c) {
    auto now = steady::now();
    auto wants = [&](const direction& in, const direction& out) {
      uint32_t ev = 0;
      if (!in.source_done && in.queued < max_queued)
        ev |= EPOLLIN;
      if (out.blocked && !out.queue.empty() && out.queue.front().due <= now)
        ev |= EPOLLOUT;
      return ev;
    };
    update(c.client, c.client_events, wants(c.up, c.down));
    if (c.upstream >= 0)
      update(c.upstream, c.upstream_events,
             c.upstream_ready ? wants(c.down, c.up) : static_cast<uint32_t>(EPOLLOUT));
  }

  void update(int fd, uint32_t& registered, uint32_t wanted) {
    if (wanted == registered)
      return;
    epoll_event ev{};
    ev.events = wanted;
    ev.data.fd = fd;
    if (registered == 0)
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    else if (wanted == 0)
      ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    else
      ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
    registered = wanted;
  }

  options opts_;
  std::mt19937_64 rng_;
  int epoll_ = -1;
  int listener_ = -1;
  std::vector<std::unique_ptr<connection>> conns_;
  std::map<int, connection*> owner_;
};

} // namespace

int main(int argc, char** argv) {
  options opts;
  try {
    opts = parse_options(argc, argv);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "montana-wan-relay: %s\n", e.what());
    return 2;
  }
  struct sigaction stop {};
  stop.sa_handler = on_stop;
  ::sigaction(SIGTERM, &stop, nullptr);
  ::sigaction(SIGINT, &stop, nullptr);
  return relay{std::move(opts)}.run();
}
