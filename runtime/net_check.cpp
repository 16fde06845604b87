#include "runtime/net_check.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <future>
#include <optional>
#include <span>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace montana {

unique_fd::unique_fd(unique_fd&& other) noexcept : fd_{std::exchange(other.fd_, -1)} {}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  reset(std::exchange(other.fd_, -1));
  return *this;
}

unique_fd::~unique_fd() {
  reset();
}

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = fd;
}

namespace {

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

/// A resolved socket address.
struct endpoint {
  sockaddr_storage addr{};
  socklen_t size = 0;

  int family() const { return addr.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

/// errno as a short lower-case phrase: "connection refused", "no route to host".
std::string describe(int err) {
  auto text = std::generic_category().message(err);
  if (!text.empty())
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

std::string timed_out(milliseconds timeout) {
  return "timed out after " + std::to_string(timeout.count()) + "ms";
}

/// Result of one getaddrinfo call: the first address or the resolver's reason.
struct lookup {
  std::optional<endpoint> where;
  std::string error;
};

lookup first_address(const std::string& host, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM; // one entry per address instead of one per socket type
  hints.ai_flags = flags;
  addrinfo* list = nullptr;
  if (auto rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list); rc != 0)
    return {std::nullopt, rc == EAI_SYSTEM ? describe(errno) : ::gai_strerror(rc)};
  endpoint result;
  std::memcpy(&result.addr, list->ai_addr, list->ai_addrlen);
  result.size = list->ai_addrlen;
  ::freeaddrinfo(list);
  return {result, {}};
}

/// Literals resolve at once; names on a helper thread, because getaddrinfo cannot be interrupted
/// and would otherwise hold the caller past `deadline` (see the header).
std::optional<endpoint> resolve(const std::string& host, clock_type::time_point deadline,
                                milliseconds timeout, std::string& error) {
  if (auto literal = first_address(host, AI_NUMERICHOST); literal.where)
    return literal.where;
  // The task's shared state lives on in the detached thread if we stop waiting for it.
  std::packaged_task<lookup()> task{[host] { return first_address(host, 0); }};
  auto pending = task.get_future();
  std::thread{std::move(task)}.detach();
  if (pending.wait_until(deadline) != std::future_status::ready) {
    error = "resolving '" + host + "' " + timed_out(timeout);
    return std::nullopt;
  }
  auto result = pending.get();
  if (!result.where)
    error = "cannot resolve '" + host + "': " + result.error;
  return result.where;
}

/// One check in flight: it knows its outcome once its socket is closed; until then it waits for
/// `events_` on that socket.
class probe {
public:
  virtual ~probe() = default;

  bool done() const { return !sock_; }
  check_status status() const { return status_; }
  const std::string& reason() const { return reason_; }
  pollfd poll_entry() const { return {sock_.get(), events_, 0}; }

  /// Called when poll reports activity on the socket.
  virtual void on_ready() = 0;

  void finish(check_status status, std::string reason = {}) {
    status_ = status;
    reason_ = std::move(reason);
    sock_.reset();
  }

protected:
  unique_fd sock_;
  short events_ = 0;

private:
  check_status status_ = check_status::failed;
  std::string reason_;
};

class tcp_probe final : public probe {
public:
  tcp_probe(endpoint to, uint16_t port) {
    if (to.family() == AF_INET6)
      reinterpret_cast<sockaddr_in6*>(&to.addr)->sin6_port = htons(port);
    else
      reinterpret_cast<sockaddr_in*>(&to.addr)->sin_port = htons(port);
    sock_.reset(::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock_)
      finish(check_status::failed, describe(errno));
    else if (::connect(sock_.get(), to.get(), to.size) == 0)
      connected();
    else if (errno != EINPROGRESS)
      finish(check_status::failed, describe(errno));
    else
      events_ = POLLOUT;
  }

  void on_ready() override {
    int err = 0;
    socklen_t size = sizeof(err);
    if (::getsockopt(sock_.get(), SOL_SOCKET, SO_ERROR, &err, &size) != 0)
      err = errno;
    if (err == 0)
      connected();
    else
      finish(check_status::failed, describe(err));
  }

private:
  void connected() {
    // Reset instead of a FIN: a check every few seconds would otherwise leave a TIME_WAIT socket
    // behind for each of them.
    linger abort{1, 0};
    ::setsockopt(sock_.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
    finish(check_status::ok);
  }
};

/// RFC 1071 Internet checksum; over a message that carries a correct one it yields 0.
uint16_t internet_checksum(std::span<const uint8_t> data) {
  uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < data.size(); i += 2)
    sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (data.size() % 2 != 0)
    sum += static_cast<uint32_t>(data.back() << 8);
  while (sum >> 16 != 0)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint16_t load16(std::span<const uint8_t> data, std::size_t at) {
  return static_cast<uint16_t>(data[at] << 8 | data[at + 1]);
}

void store16(std::span<uint8_t> data, std::size_t at, uint16_t value) {
  data[at] = static_cast<uint8_t>(value >> 8);
  data[at + 1] = static_cast<uint8_t>(value);
}

/// Sequence numbers tell concurrent echoes of this process apart.
std::atomic<uint16_t> next_sequence{0};

class icmp_probe final : public probe {
public:
  explicit icmp_probe(const endpoint& to)
      : v6_{to.family() == AF_INET6}, sequence_{next_sequence.fetch_add(1)} {
    int protocol = v6_ ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP};
    auto open = [&](int type) {
      sock_.reset(::socket(to.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
      return sock_ ? 0 : errno;
    };
    auto denied = [](int err) { return err == EPERM || err == EACCES; };
    // A raw socket needs CAP_NET_RAW; a ping socket needs our group in ping_group_range.
    auto err = open(SOCK_RAW);
    raw_ = err == 0;
    if (denied(err))
      err = open(SOCK_DGRAM);
    if (err != 0) {
      finish(denied(err) ? check_status::unavailable : check_status::failed,
             denied(err) ? "no CAP_NET_RAW" : describe(err));
      return;
    }
    // Connecting makes the kernel drop packets from other sources, which a raw socket would
    // otherwise receive too: it sees every ICMP packet on the host.
    if (::connect(sock_.get(), to.get(), to.size) != 0) {
      finish(check_status::failed, describe(errno));
      return;
    }
    if (raw_) {
      identifier_ = static_cast<uint16_t>(::getpid());
    } else {
      // The kernel replaces the identifier of a ping socket's echoes with its local "port".
      sockaddr_storage local{};
      socklen_t size = sizeof(local);
      ::getsockname(sock_.get(), reinterpret_cast<sockaddr*>(&local), &size);
      identifier_ = ntohs(v6_ ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                              : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    }
    std::array<uint8_t, 24> request{};
    request[0] = v6_ ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    store16(request, 4, identifier_);
    store16(request, 6, sequence_);
    // A recognisable payload for whoever captures the traffic.
    std::memcpy(request.data() + 8, "montana-actors", 14);
    // The kernel fills in ICMPv6 checksums: they cover a pseudo-header with both addresses.
    if (!v6_)
      store16(request, 2, internet_checksum(request));
    if (::send(sock_.get(), request.data(), request.size(), 0) < 0)
      finish(check_status::failed, describe(errno));
    else
      events_ = POLLIN;
  }

  void on_ready() override {
    std::array<uint8_t, 2048> packet;
    for (;;) {
      auto n = ::recv(sock_.get(), packet.data(), packet.size(), 0);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        // An ICMP error for our echo (e.g. host unreachable) arrives as the socket's error.
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          finish(check_status::failed, describe(errno));
        return;
      }
      if (is_our_reply({packet.data(), static_cast<std::size_t>(n)})) {
        finish(check_status::ok);
        return;
      }
    }
  }

private:
  /// Skips foreign packets: other processes' echoes, corrupt ones, and on loopback our own
  /// request.
  bool is_our_reply(std::span<const uint8_t> packet) const {
    if (raw_ && !v6_) { // raw IPv4 sockets deliver the IP header as well
      if (packet.empty() || packet.size() < (packet[0] & 0x0fu) * 4u)
        return false;
      packet = packet.subspan((packet[0] & 0x0fu) * 4u);
    }
    if (packet.size() < 8)
      return false;
    // The kernel verifies ICMPv6 checksums; a raw IPv4 socket gets packets unchecked.
    if (!v6_ && internet_checksum(packet) != 0)
      return false;
    auto reply = v6_ ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY;
    return packet[0] == reply && packet[1] == 0 && load16(packet, 4) == identifier_ &&
           load16(packet, 6) == sequence_;
  }

  bool v6_;
  bool raw_ = false;
  uint16_t identifier_ = 0;
  uint16_t sequence_;
};

/// Polls all unfinished probes at once until each knows its outcome or `deadline` passes.
void run(std::span<probe* const> probes, clock_type::time_point deadline, milliseconds timeout) {
  std::vector<probe*> waiting;
  std::vector<pollfd> entries;
  std::string reason;
  for (;;) {
    waiting.clear();
    entries.clear();
    for (auto* p : probes) {
      if (!p->done()) {
        waiting.push_back(p);
        entries.push_back(p->poll_entry());
      }
    }
    if (waiting.empty())
      return;
    // Rounding up so that poll never wakes just before the deadline and spins.
    auto left = std::chrono::ceil<milliseconds>(deadline - clock_type::now());
    if (left <= milliseconds::zero()) {
      reason = timed_out(timeout);
      break;
    }
    if (::poll(entries.data(), entries.size(), static_cast<int>(left.count())) < 0) {
      if (errno == EINTR)
        continue;
      reason = "poll: " + describe(errno);
      break;
    }
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (entries[i].revents != 0)
        waiting[i]->on_ready();
  }
  for (auto* p : waiting)
    p->finish(check_status::failed, reason);
}

/// Resolves `host` and runs the one probe `make` creates for its address, all within `timeout`.
template <class Make>
check_status check_one(const std::string& host, milliseconds timeout, std::string* detail,
                       Make make) {
  auto deadline = clock_type::now() + timeout;
  auto status = check_status::failed;
  std::string reason;
  if (auto to = resolve(host, deadline, timeout, reason)) {
    auto check = make(*to);
    probe* const all[] = {&check};
    run(all, deadline, timeout);
    status = check.status();
    reason = check.reason();
  }
  if (detail != nullptr)
    *detail = std::move(reason);
  return status;
}

} // namespace

check_status tcp_connect(const std::string& host, uint16_t port, milliseconds timeout,
                         std::string* detail) {
  return check_one(host, timeout, detail, [port](const endpoint& to) {
    return tcp_probe{to, port};
  });
}

check_status icmp_echo(const std::string& host, milliseconds timeout, std::string* detail) {
  return check_one(host, timeout, detail, [](const endpoint& to) { return icmp_probe{to}; });
}

std::string network_problem() {
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0)
    return {}; // cannot tell: never claim to be cut off on a guess
  std::vector<std::string> silent;
  bool carrier = false;
  for (auto* i = all; i != nullptr; i = i->ifa_next) {
    if ((i->ifa_flags & IFF_LOOPBACK) != 0 || i->ifa_name == nullptr)
      continue;
    // IFF_RUNNING is the operational state: up, with a carrier.
    if ((i->ifa_flags & IFF_UP) != 0 && (i->ifa_flags & IFF_RUNNING) != 0)
      carrier = true;
    else if (std::find(silent.begin(), silent.end(), i->ifa_name) == silent.end())
      silent.emplace_back(i->ifa_name);
  }
  ::freeifaddrs(all);
  if (carrier || silent.empty())
    return {};
  std::string out = "no carrier on " + silent.front();
  for (size_t i = 1; i < silent.size(); ++i)
    out += ", " + silent[i];
  return out;
}

check_report check_host(const std::string& host, milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  check_report result;
  result.icmp = result.tcp22 = result.tcp443 = check_status::failed;
  auto to = resolve(host, deadline, timeout, result.detail);
  if (!to)
    return result;
  icmp_probe icmp{*to};
  tcp_probe ssh{*to, 22};
  tcp_probe https{*to, 443};
  probe* const all[] = {&icmp, &ssh, &https};
  run(all, deadline, timeout);
  result.icmp = icmp.status();
  result.tcp22 = ssh.status();
  result.tcp443 = https.status();
  const std::pair<const char*, const probe*> named[] = {
      {"icmp", &icmp}, {"tcp/22", &ssh}, {"tcp/443", &https}};
  for (const auto& [name, check] : named) {
    if (check->status() == check_status::ok)
      continue;
    if (!result.detail.empty())
      result.detail += "; ";
    result.detail += std::string{name} + ": " + check->reason();
  }
  return result;
}

std::string bind_problem(const std::string& host, uint16_t port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  } else {
    return {}; // a name: CAF resolves it and reports its own error
  }
  unique_fd fd{::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!fd)
    return std::strerror(errno);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd.get(), 1) != 0)
    return std::strerror(errno);
  return {};
}

check_status system_net_checks::tcp(const std::string& host, uint16_t port, duration timeout,
                                    std::string& detail) {
  return tcp_connect(host, port, timeout, &detail);
}

check_report system_net_checks::host(const std::string& host, duration timeout) {
  return check_host(host, timeout);
}

} // namespace montana
