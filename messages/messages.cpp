#include "messages/messages.hpp"

namespace montana {

std::string to_string(verdict x) {
  switch (x) {
  case verdict::unknown:
    return "unknown";
  case verdict::alive:
    return "alive";
  case verdict::suspect:
    return "suspect";
  case verdict::dead:
    return "dead";
  }
  return "invalid";
}

std::string to_string(check_status x) {
  switch (x) {
  case check_status::ok:
    return "ok";
  case check_status::failed:
    return "failed";
  case check_status::unavailable:
    return "unavailable";
  }
  return "invalid";
}

std::string to_string(check_mode x) {
  return x == check_mode::service ? "service" : "host";
}

void register_messages(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::montana>();
}

} // namespace montana
