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

std::string to_string(duty_role x) {
  switch (x) {
  case duty_role::standby:
    return "standby";
  case duty_role::claiming:
    return "claiming";
  case duty_role::holder:
    return "holder";
  case duty_role::releasing:
    return "releasing";
  }
  return "invalid";
}

std::string to_string(event_kind x) {
  switch (x) {
  case event_kind::role:
    return "role";
  case event_kind::verdict:
    return "verdict";
  case event_kind::link:
    return "link";
  case event_kind::duty:
    return "duty";
  case event_kind::breath:
    return "breath";
  case event_kind::action:
    return "action";
  }
  return "invalid";
}

std::string to_string(sync_mode x) {
  switch (x) {
  case sync_mode::follow:
    return "follow";
  case sync_mode::hold:
    return "hold";
  case sync_mode::release:
    return "release";
  }
  return "invalid";
}

std::string to_string(relay_kind x) {
  switch (x) {
  case relay_kind::claim:
    return "claim";
  case relay_kind::released:
    return "released";
  case relay_kind::refused:
    return "refused";
  }
  return "invalid";
}

void register_messages(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::montana>();
}

} // namespace montana
