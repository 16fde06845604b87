#define CAF_SUITE messages
#include "caf/test/dsl.hpp"

#include "messages/messages.hpp"

using namespace montana;

namespace {

struct registered_config : caf::actor_system_config {
  registered_config() { register_messages(*this); }
};

} // namespace

CAF_TEST(every message type is registered under its own name) {
  registered_config cfg;
  caf::actor_system sys{cfg};
  auto name_of = [&](const std::type_info& ti) { return sys.types().portable_name(0, &ti); };
  CAF_CHECK_EQUAL(name_of(typeid(claim)), "montana::claim");
  CAF_CHECK_EQUAL(name_of(typeid(released)), "montana::released");
  CAF_CHECK_EQUAL(name_of(typeid(link_opened)), "montana::link_opened");
  CAF_CHECK_EQUAL(name_of(typeid(child_failed)), "montana::child_failed");
}
