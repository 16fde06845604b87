// Blocking but bounded host checks (ICMP echo, TCP connect) for a probe's I/O thread.
//
// Every call returns within its timeout plus a few milliseconds, never later. A host is an IPv4 or
// IPv6 literal or a name. Literals never block. getaddrinfo cannot be interrupted, so a name is
// looked up on a helper thread: when the lookup outlives the timeout the call fails on time, and
// the abandoned lookup ends in the background within the resolver's own limits (resolv.conf
// `timeout` x `attempts`), holding one thread meanwhile. Prefer literals for peers. Of a name's
// addresses only the first (in getaddrinfo's RFC 6724 order) is checked.
#pragma once

#include "actors/checker.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace montana {

/// Owns one file descriptor (or none, -1) and closes it exactly once.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_{fd} {}
  unique_fd(unique_fd&& other) noexcept;
  unique_fd& operator=(unique_fd&& other) noexcept;
  ~unique_fd();

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

  /// Closes the current descriptor, if any, and takes ownership of `fd`.
  void reset(int fd = -1) noexcept;

private:
  int fd_ = -1;
};

/// TCP handshake with `host`:`port`; on failure `*detail` says why ("connection refused"),
/// on success it is cleared.
check_status tcp_connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
                         std::string* detail = nullptr);

/// One ICMP (or ICMPv6) echo round trip; `unavailable` when neither a raw socket (CAP_NET_RAW) nor
/// an unprivileged ping socket (net.ipv4.ping_group_range) is permitted here.
check_status icmp_echo(const std::string& host, std::chrono::milliseconds timeout,
                       std::string* detail = nullptr);

/// Whether this host can listen on `host`:`port` (numeric address) with SO_REUSEADDR, as CAF
/// does; empty when it can, else the reason ("Address already in use").
std::string bind_problem(const std::string& host, uint16_t port);

/// Runs ICMP echo, TCP 22 and TCP 443 concurrently: the whole call takes at most `timeout`.
/// Fills icmp, tcp22, tcp443 and `detail` (every check that did not succeed, with its reason).
check_report check_host(const std::string& host, std::chrono::milliseconds timeout);

/// Why this host is cut off from every network: each interface but loopback is down or has no
/// carrier ("no carrier on eth0"). Empty while one has a carrier, and on a host with loopback
/// only (its peers can only be local). Asks the kernel of the caller's network namespace
/// (getifaddrs, netlink); quick, never blocks on the network.
std::string network_problem();

/// The real checks of this machine, for probes and dialers.
class system_net_checks final : public net_checks {
public:
  check_status tcp(const std::string& host, uint16_t port, duration timeout,
                   std::string& detail) override;
  check_report host(const std::string& host, duration timeout) override;
};

} // namespace montana
