#define CAF_SUITE runtime.net_check
#include "caf/test/dsl.hpp"

#include "actors/checker.hpp"
#include "runtime/net_check.hpp"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

using namespace montana;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

using clock_type = std::chrono::steady_clock;

// Upper bounds allow this much scheduling delay: the machines running the tests are noisy.
constexpr auto slack = 1s;

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error{errno, std::generic_category(), what};
}

/// A TCP socket bound to a loopback literal, on `port` or one the kernel picked.
struct tcp_socket {
  unique_fd fd;
  uint16_t port = 0;
};

tcp_socket bind_tcp(const std::string& literal, uint16_t port = 0) {
  sockaddr_storage addr{};
  socklen_t size = 0;
  if (literal.find(':') != std::string::npos) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    ::inet_pton(AF_INET6, literal.c_str(), &in6->sin6_addr);
    size = sizeof(*in6);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&addr);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    ::inet_pton(AF_INET, literal.c_str(), &in4->sin_addr);
    size = sizeof(*in4);
  }
  tcp_socket result{unique_fd{::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)}};
  if (!result.fd || ::bind(result.fd.get(), reinterpret_cast<sockaddr*>(&addr), size) != 0 ||
      ::getsockname(result.fd.get(), reinterpret_cast<sockaddr*>(&addr), &size) != 0)
    throw_errno("bind");
  // sin_port and sin6_port sit at the same offset.
  result.port = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return result;
}

tcp_socket listen_tcp(const std::string& literal, uint16_t port = 0, int backlog = 8) {
  auto result = bind_tcp(literal, port);
  if (::listen(result.fd.get(), backlog) != 0)
    throw_errno("listen");
  return result;
}

/// How long `f` takes.
template <class F>
milliseconds duration_of(F&& f) {
  auto start = clock_type::now();
  f();
  return std::chrono::duration_cast<milliseconds>(clock_type::now() - start);
}

/// Whether this process may open an IPv4 ICMP socket of either kind icmp_echo tries.
bool icmp_permitted() {
  for (int type : {SOCK_RAW, SOCK_DGRAM})
    if (unique_fd{::socket(AF_INET, type | SOCK_CLOEXEC, IPPROTO_ICMP)})
      return true;
  return false;
}

/// Drops CAP_NET_RAW from the calling thread only: capabilities are per thread.
void drop_net_raw() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0)
    throw_errno("capget");
  data[CAP_TO_INDEX(CAP_NET_RAW)].effective &= ~CAP_TO_MASK(CAP_NET_RAW);
  if (::syscall(SYS_capset, &header, data) != 0)
    throw_errno("capset");
}

/// Runs `body` on a thread of its own inside a new network namespace with `lo` up, after the shell
/// commands `setup` ran in it. The namespace dies with its last thread, and no foreign network is
/// ever touched. Returns false when namespaces are not permitted (not root).
bool in_private_netns(const std::string& setup, const std::function<void()>& body) {
  bool created = false;
  std::exception_ptr failure;
  // A namespace is per thread, and children such as `ip` inherit the creating thread's.
  std::thread{[&] {
    try {
      if (::unshare(CLONE_NEWNET) != 0)
        return;
      created = true;
      auto commands = "ip link set lo up" + (setup.empty() ? "" : " && " + setup);
      if (std::system(commands.c_str()) != 0)
        throw std::runtime_error{"setup failed: " + commands};
      body();
    } catch (...) {
      failure = std::current_exception();
    }
  }}.join();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      CAF_FAIL(e.what());
    }
  }
  if (!created)
    CAF_MESSAGE("skipped: creating a network namespace needs CAP_SYS_ADMIN");
  return created;
}

/// `setup` command that lets (only) our group open unprivileged ping sockets, or nobody.
std::string ping_group_range(bool ours) {
  auto gid = std::to_string(::getgid());
  return "echo '" + (ours ? gid + " " + gid : std::string{"1 0"}) +
         "' > /proc/sys/net/ipv4/ping_group_range";
}

} // namespace

CAF_TEST(a listening socket accepts the connection) {
  auto server = listen_tcp("127.0.0.1");
  std::string detail = "stale";
  CAF_CHECK_EQUAL(tcp_connect("127.0.0.1", server.port, 1s, &detail), check_status::ok);
  CAF_CHECK_EQUAL(detail, "");
}

CAF_TEST(a closed port is refused long before the timeout) {
  // Bound but not listening: the port stays ours, and the kernel answers SYNs with a reset.
  auto closed = bind_tcp("127.0.0.1");
  std::string detail;
  auto status = check_status::ok;
  auto took = duration_of([&] { status = tcp_connect("127.0.0.1", closed.port, 10s, &detail); });
  CAF_MESSAGE("closed port answered in " << took.count() << "ms");
  CAF_CHECK_EQUAL(status, check_status::failed);
  CAF_CHECK_EQUAL(detail, "connection refused");
  CAF_CHECK_LESS(took.count(), milliseconds{slack}.count());
}

CAF_TEST(a black hole fails once the timeout expires) {
  // With backlog 0 the accept queue holds a single connection; while it is full the kernel drops
  // further SYNs, exactly like a host that never answers.
  auto server = listen_tcp("127.0.0.1", 0, 0);
  auto filler = bind_tcp("127.0.0.1");
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(server.port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CAF_REQUIRE_EQUAL(::connect(filler.fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  std::string detail;
  auto status = check_status::ok;
  auto took = duration_of([&] { status = tcp_connect("127.0.0.1", server.port, 300ms, &detail); });
  CAF_MESSAGE("black hole gave up after " << took.count() << "ms");
  CAF_CHECK_EQUAL(status, check_status::failed);
  CAF_CHECK_EQUAL(detail, "timed out after 300ms");
  CAF_CHECK_GREATER_OR_EQUAL(took.count(), 300);
  CAF_CHECK_LESS(took.count(), milliseconds{300ms + slack}.count());
}

CAF_TEST(an unresolvable name fails with the resolver reason) {
  // The resolver itself rejects a label longer than 63 characters: no DNS query leaves the host.
  auto name = std::string(64, 'x') + ".invalid";
  auto expected = "cannot resolve '" + name + "': Name or service not known";
  std::string detail;
  CAF_CHECK_EQUAL(tcp_connect(name, 22, 1s, &detail), check_status::failed);
  CAF_CHECK_EQUAL(detail, expected);
  CAF_CHECK_EQUAL(icmp_echo(name, 1s, &detail), check_status::failed);
  CAF_CHECK_EQUAL(detail, expected);
  auto result = check_host(name, 1s);
  CAF_CHECK_EQUAL(result.icmp, check_status::failed);
  CAF_CHECK_EQUAL(result.tcp22, check_status::failed);
  CAF_CHECK_EQUAL(result.tcp443, check_status::failed);
  CAF_CHECK_EQUAL(result.detail, expected);
}

CAF_TEST(icmp echo to loopback is ok exactly when an icmp socket may be opened) {
  std::string detail;
  auto status = icmp_echo("127.0.0.1", 1s, &detail);
  if (icmp_permitted()) {
    CAF_CHECK_EQUAL(status, check_status::ok);
    CAF_CHECK_EQUAL(detail, "");
  } else {
    CAF_CHECK_EQUAL(status, check_status::unavailable);
    CAF_CHECK_EQUAL(detail, "no CAP_NET_RAW");
  }
}

CAF_TEST(check_host on loopback returns within its timeout) {
  check_report result;
  auto took = duration_of([&] { result = check_host("127.0.0.1", 300ms); });
  CAF_MESSAGE("check_host on 127.0.0.1 took " << took.count() << "ms: " << result.detail);
  CAF_CHECK_LESS(took.count(), milliseconds{300ms + slack}.count());
  CAF_CHECK_EQUAL(result.icmp, icmp_permitted() ? check_status::ok : check_status::unavailable);
  // Whether or not something listens on 22 and 443 here, loopback answers either way.
  CAF_CHECK_NOT_EQUAL(result.tcp22, check_status::unavailable);
  CAF_CHECK_NOT_EQUAL(result.tcp443, check_status::unavailable);
}

CAF_TEST(a host is alive when any one check succeeded) {
  constexpr auto ok = check_status::ok;
  constexpr auto failed = check_status::failed;
  constexpr auto unavailable = check_status::unavailable;
  struct row {
    check_report result;
    bool alive;
  };
  auto r = [](check_status icmp, check_status tcp22, check_status tcp443) {
    check_report x;
    x.icmp = icmp;
    x.tcp22 = tcp22;
    x.tcp443 = tcp443;
    return x;
  };
  const row table[] = {
      {r(ok, ok, ok), true},
      {r(ok, failed, failed), true},
      {r(failed, ok, failed), true},
      {r(failed, failed, ok), true},
      {r(unavailable, ok, failed), true},
      {r(unavailable, failed, ok), true},
      {r(failed, failed, failed), false},
      {r(unavailable, failed, failed), false},
      {r(unavailable, unavailable, unavailable), false},
  };
  for (const auto& [result, alive] : table)
    CAF_CHECK_EQUAL(host_alive(result), alive);
}

CAF_TEST(check_host runs its three checks concurrently against a black hole) {
  // ifb is a NOARP device that drops whatever is routed to it: 198.51.100.1 (TEST-NET-2, and only
  // inside the private namespace) never answers anything.
  check_report result;
  milliseconds took{};
  if (!in_private_netns(
          "ip link add blackhole type ifb && ip link set blackhole up"
          " && ip addr add 198.51.100.2/24 dev blackhole",
          [&] { took = duration_of([&] { result = check_host("198.51.100.1", 1s); }); }))
    return;
  CAF_MESSAGE("check_host on a black hole took " << took.count() << "ms");
  CAF_CHECK_EQUAL(result.icmp, check_status::failed);
  CAF_CHECK_EQUAL(result.tcp22, check_status::failed);
  CAF_CHECK_EQUAL(result.tcp443, check_status::failed);
  CAF_CHECK_EQUAL(result.detail, "icmp: timed out after 1000ms; tcp/22: timed out after 1000ms; "
                                 "tcp/443: timed out after 1000ms");
  CAF_CHECK(!host_alive(result));
  // One after the other the checks would take three seconds.
  CAF_CHECK_GREATER_OR_EQUAL(took.count(), 1000);
  CAF_CHECK_LESS(took.count(), milliseconds{1s + slack}.count());
}

CAF_TEST(icmp echo falls back to a ping socket when raw sockets are denied) {
  bool raw_denied = false;
  check_status v4 = check_status::failed;
  check_status v6 = check_status::failed;
  std::string detail;
  if (!in_private_netns(ping_group_range(true), [&] {
        drop_net_raw();
        raw_denied = !unique_fd{::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP)};
        v4 = icmp_echo("127.0.0.1", 1s, &detail);
        v6 = icmp_echo("::1", 1s);
      }))
    return;
  CAF_REQUIRE(raw_denied);
  CAF_CHECK_EQUAL(v4, check_status::ok);
  CAF_CHECK_EQUAL(detail, "");
  CAF_CHECK_EQUAL(v6, check_status::ok);
}

CAF_TEST(icmp is unavailable when neither raw nor ping sockets are permitted) {
  check_report result;
  if (!in_private_netns(ping_group_range(false), [&] {
        drop_net_raw();
        result = check_host("127.0.0.1", 300ms);
      }))
    return;
  CAF_CHECK_EQUAL(result.icmp, check_status::unavailable);
  CAF_CHECK_EQUAL(result.tcp22, check_status::failed);
  CAF_CHECK_EQUAL(result.tcp443, check_status::failed);
  CAF_CHECK_EQUAL(result.detail,
                  "icmp: no CAP_NET_RAW; tcp/22: connection refused; tcp/443: connection refused");
  CAF_CHECK(!host_alive(result));
}

CAF_TEST(ipv6 literals and names are checked too) {
  check_status tcp_v6 = check_status::failed;
  check_status icmp_v6 = check_status::failed;
  check_status by_name = check_status::failed;
  if (!in_private_netns("", [&] {
        // A fresh namespace has no other sockets: the port is free on both loopback addresses, so
        // "localhost" connects whichever of them it names first.
        auto v4 = listen_tcp("127.0.0.1");
        auto v6 = listen_tcp("::1", v4.port);
        tcp_v6 = tcp_connect("::1", v6.port, 1s);
        icmp_v6 = icmp_echo("::1", 1s);
        by_name = tcp_connect("localhost", v4.port, 1s);
      }))
    return;
  CAF_CHECK_EQUAL(tcp_v6, check_status::ok);
  CAF_CHECK_EQUAL(icmp_v6, check_status::ok);
  CAF_CHECK_EQUAL(by_name, check_status::ok);
}

CAF_TEST(an unreachable network fails at once with the kernel reason) {
  check_status tcp = check_status::ok;
  check_status icmp = check_status::ok;
  std::string tcp_detail;
  std::string icmp_detail;
  milliseconds took{};
  if (!in_private_netns("ip route add unreachable 198.51.100.0/24", [&] {
        took = duration_of([&] {
          tcp = tcp_connect("198.51.100.1", 22, 10s, &tcp_detail);
          icmp = icmp_echo("198.51.100.1", 10s, &icmp_detail);
        });
      }))
    return;
  CAF_CHECK_EQUAL(tcp, check_status::failed);
  CAF_CHECK_EQUAL(tcp_detail, "no route to host");
  CAF_CHECK_EQUAL(icmp, check_status::failed);
  CAF_CHECK_EQUAL(icmp_detail, "no route to host");
  CAF_CHECK_LESS(took.count(), milliseconds{slack}.count());
}

CAF_TEST(a name lookup that hangs fails on time) {
  // Everything off-host is routed into the black hole, the name server included: the lookup waits
  // for the resolver's own timeout (seconds) and keeps the namespace alive until then, in the
  // background. A resolver on loopback would refuse at once instead; either way the call is
  // bounded.
  check_status status = check_status::ok;
  std::string detail;
  milliseconds took{};
  if (!in_private_netns("ip link add blackhole type ifb && ip link set blackhole up"
                        " && ip route add default dev blackhole",
                        [&] {
                          took = duration_of(
                              [&] { status = tcp_connect("peer.invalid", 22, 300ms, &detail); });
                        }))
    return;
  CAF_MESSAGE("lookup gave up after " << took.count() << "ms: " << detail);
  CAF_CHECK_EQUAL(status, check_status::failed);
  CAF_CHECK_LESS(took.count(), milliseconds{300ms + slack}.count());
}
