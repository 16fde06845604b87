// montana-wan-relay on loopback: every byte held for the delay in each direction, a
// connection's set-up costing a round trip, a refused connection reaching the client as a reset
// a round trip later, bytes never reordered under jitter, a delay per client address, bad
// usage refused with one line. Lower bounds only: a delay is never shorter than asked for.
#define CAF_SUITE chaos.relay
// ctest-labels: chaos
#include "caf/test/dsl.hpp"

#include "support/cluster.hpp"
#include "support/guard.hpp"
#include "support/process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <sys/socket.h>
#include <thread>

using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

sockaddr_in endpoint(const std::string& host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  return a;
}

/// A connected socket to host:port from address `from` (any when empty); -1 on failure.
int dial(const std::string& host, uint16_t port, const std::string& from = {}) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!from.empty()) {
    auto local = endpoint(from, 0);
    ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local);
  }
  auto to = endpoint(host, port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Reads exactly `n` bytes; fewer when the peer closes or fails.
std::string read_n(int fd, size_t n) {
  std::string out;
  while (out.size() < n) {
    char buf[65536];
    auto got = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (got <= 0)
      break;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

/// A listening socket on a private loopback address and the relay in front of it.
struct fixture : scratch {
  std::string block;
  std::string server_host;
  uint16_t server_port = 0;
  int server = -1;
  std::string relay_host;
  uint16_t relay_port = 0;
  pid_t relay = -1;

  fixture() : scratch{"relay"} {
    std::random_device rd;
    block = "127." + std::to_string(1 + rd() % 250) + "." + std::to_string(1 + rd() % 250) + ".";
    server_host = block + "1";
    relay_host = block + "2";
    server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    auto at = endpoint(server_host, 0);
    ::bind(server, reinterpret_cast<sockaddr*>(&at), sizeof at);
    ::listen(server, 16);
    socklen_t len = sizeof at;
    ::getsockname(server, reinterpret_cast<sockaddr*>(&at), &len);
    server_port = ntohs(at.sin_port);
  }

  ~fixture() {
    if (relay > 0) {
      ::kill(relay, SIGTERM);
      CAF_CHECK(wait_until([&] { return ::waitpid(relay, nullptr, WNOHANG) == relay; }, 5s));
      std::erase(live_children, relay);
    }
    ::close(server);
  }

  /// Starts the relay to `to_port` on the server's address with `extra` arguments.
  void start_relay(const std::vector<std::string>& extra, uint16_t to_port = 0) {
    relay_port = free_port(relay_host);
    std::vector<std::string> args{
        MONTANA_WAN_RELAY_PATH, "--listen", relay_host + ":" + std::to_string(relay_port), "--to",
        server_host + ":" + std::to_string(to_port == 0 ? server_port : to_port)};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string problem;
    relay = spawn_child(args, "/dev/null", path("relay.out"), problem);
    if (relay < 0)
      GUARD_FAIL(problem);
    live_children.push_back(relay);
    GUARD_REQUIRE(
        wait_until([&] { return contains(read_file(path("relay.out")), "listening on"); }, 10s));
  }

  /// The server's side of the next connection.
  int accept_one() { return ::accept4(server, nullptr, nullptr, SOCK_CLOEXEC); }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(relay_tests, fixture)

CAF_TEST(every byte waits the delay in each direction and a connection costs a round trip) {
  start_relay({"--delay", "60"});
  auto dialed = steady::now();
  int client = dial(relay_host, relay_port);
  GUARD_REQUIRE(client >= 0);
  GUARD_REQUIRE(::send(client, "a", 1, 0) == 1);
  int node = accept_one();
  GUARD_REQUIRE(node >= 0);
  // The node sees the connection one delay after the dial ...
  CAF_CHECK_GREATER_OR_EQUAL(ms_since(dialed), 60.0);
  // ... and the first byte a round trip plus a delay after it: sent before the handshake
  // could have finished on a real path, it leaves only then.
  CAF_CHECK_EQUAL(read_n(node, 1), "a");
  CAF_CHECK_GREATER_OR_EQUAL(ms_since(dialed), 180.0);
  for (int i = 0; i < 3; ++i) {
    auto sent = steady::now();
    GUARD_REQUIRE(::send(client, "b", 1, 0) == 1);
    CAF_CHECK_EQUAL(read_n(node, 1), "b");
    CAF_CHECK_GREATER_OR_EQUAL(ms_since(sent), 60.0);
    sent = steady::now();
    GUARD_REQUIRE(::send(node, "c", 1, 0) == 1);
    CAF_CHECK_EQUAL(read_n(client, 1), "c");
    CAF_CHECK_GREATER_OR_EQUAL(ms_since(sent), 60.0);
  }
  // A half-close travels like data, after everything sent before it.
  GUARD_REQUIRE(::send(node, "bye", 3, 0) == 3);
  ::shutdown(node, SHUT_WR);
  CAF_CHECK_EQUAL(read_n(client, 10), "bye");
  GUARD_REQUIRE(::send(client, "late", 4, 0) == 4);
  CAF_CHECK_EQUAL(read_n(node, 4), "late");
  ::close(client);
  CAF_CHECK_EQUAL(read_n(node, 1), "");
  ::close(node);
}

CAF_TEST(bytes keep their order under jitter) {
  start_relay({"--delay", "5", "--jitter", "40", "--seed", "7"});
  int client = dial(relay_host, relay_port);
  GUARD_REQUIRE(client >= 0);
  int node = accept_one();
  GUARD_REQUIRE(node >= 0);
  std::string data;
  for (int i = 0; i < 600000; ++i)
    data.push_back(static_cast<char>(i % 251 * 31 % 256));
  std::string echoed;
  std::thread reader{[&] { echoed = read_n(client, data.size()); }};
  std::thread echo{[&] {
    auto got = read_n(node, data.size());
    ::send(node, got.data(), got.size(), MSG_NOSIGNAL);
  }};
  // Many small writes, each its own chunk with its own jitter.
  for (size_t at = 0; at < data.size(); at += 1500)
    ::send(client, data.data() + at, std::min<size_t>(1500, data.size() - at), MSG_NOSIGNAL);
  echo.join();
  reader.join();
  CAF_CHECK(echoed == data);
  ::close(client);
  ::close(node);
}

CAF_TEST(a refused connection reaches the client as a reset a round trip after its dial) {
  // Nothing listens on the port the relay forwards to.
  start_relay({"--delay", "50"}, free_port(server_host));
  auto dialed = steady::now();
  int client = dial(relay_host, relay_port);
  GUARD_REQUIRE(client >= 0);
  char c;
  auto got = ::recv(client, &c, 1, 0);
  auto error = errno;
  CAF_CHECK_EQUAL(got, -1);
  CAF_CHECK_EQUAL(error, ECONNRESET);
  CAF_CHECK_GREATER_OR_EQUAL(ms_since(dialed), 100.0);
  ::close(client);
}

CAF_TEST(each client address gets its own delay) {
  start_relay({"--delay", "0", "--from", block + "3=500"});
  auto one_way = [&](const std::string& from) {
    int client = dial(relay_host, relay_port, from);
    GUARD_REQUIRE(client >= 0);
    int node = accept_one();
    GUARD_REQUIRE(node >= 0);
    GUARD_REQUIRE(::send(client, "x", 1, 0) == 1);
    read_n(node, 1);
    auto sent = steady::now();
    GUARD_REQUIRE(::send(node, "y", 1, 0) == 1);
    read_n(client, 1);
    auto ms = ms_since(sent);
    ::close(client);
    ::close(node);
    return ms;
  };
  CAF_CHECK_GREATER_OR_EQUAL(one_way(block + "3"), 500.0);
  // The fallback delay is 0: the other address's byte does not wait the 500 ms.
  CAF_CHECK_LESS(one_way(block + "4"), 500.0);
}

CAF_TEST(bad usage is refused with one line and exit code 2) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--listen", "127.0.0.1:1"},
           {"--listen", "nowhere:1", "--to", "127.0.0.1:2"},
           {"--listen", "127.0.0.1:70000", "--to", "127.0.0.1:2"},
           {"--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--delay", "-5"},
           {"--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--from", "x=5"},
           {"--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--bogus", "1"}}) {
    auto argv = args;
    argv.insert(argv.begin(), MONTANA_WAN_RELAY_PATH);
    CAF_CHECK_EQUAL(run_tool(argv, path("usage.out")), 2);
    auto said = read_file(path("usage.out"));
    CAF_CHECK(said.starts_with("montana-wan-relay: "));
    CAF_CHECK_EQUAL(std::count(said.begin(), said.end(), '\n'), 1);
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
