#include "actors/checker.hpp"

#include <utility>

namespace montana {

namespace {

caf::behavior checker(caf::event_based_actor*, net_checks_ptr checks) {
  return {
      [checks](check_atom, const std::string& host, uint16_t port,
               int64_t timeout_ms) -> caf::result<check_status, std::string> {
        std::string detail;
        auto status = checks->tcp(host, port, duration{timeout_ms}, detail);
        return {status, std::move(detail)};
      },
      [checks](check_atom, const std::string& host, int64_t timeout_ms) -> check_report {
        return checks->host(host, duration{timeout_ms});
      },
  };
}

} // namespace

bool host_alive(const check_report& report) {
  return report.icmp == check_status::ok || report.tcp22 == check_status::ok ||
         report.tcp443 == check_status::ok;
}

caf::actor spawn_checker(caf::actor_system& sys, net_checks_ptr checks, bool detached) {
  if (detached)
    return sys.spawn<caf::detached + caf::hidden>(checker, std::move(checks));
  return sys.spawn<caf::hidden>(checker, std::move(checks));
}

} // namespace montana
