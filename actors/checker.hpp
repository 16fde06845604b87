// The network checks a probe and a dialer need, run off the scheduler threads.
#pragma once

#include "actors/settings.hpp"

#include <memory>
#include <string>

namespace montana {

/// Blocking but bounded network checks; runtime/net_check.* has the real ones, tests fake them.
class net_checks {
public:
  virtual ~net_checks() = default;
  /// Opens (and closes) a TCP connection to host:port; `detail` says why it failed.
  virtual check_status tcp(const std::string& host, uint16_t port, duration timeout,
                           std::string& detail) = 0;
  /// ICMP echo and TCP 22 and 443 at once, all within `timeout`; fills icmp/tcp22/tcp443/detail.
  virtual check_report host(const std::string& host, duration timeout) = 0;
};

using net_checks_ptr = std::shared_ptr<net_checks>;

/// The seed's rule: a host is alive when its ICMP echo, TCP 22 or TCP 443 check succeeded.
bool host_alive(const check_report& report);

/// Spawns a worker that runs `checks` on its own thread (detached) and answers
///   (check_atom, host, port, timeout_ms) -> (check_status, detail)
///   (check_atom, host, timeout_ms)       -> check_report
/// `detached = false` is for deterministic tests with fake checks only.
caf::actor spawn_checker(caf::actor_system& sys, net_checks_ptr checks, bool detached = true);

} // namespace montana
