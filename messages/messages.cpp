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

void register_messages(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::montana>();
}

} // namespace montana
