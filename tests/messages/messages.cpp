#define CAF_SUITE messages
#include "caf/test/dsl.hpp"

#include "messages/messages.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

using namespace montana;

namespace {

struct registered_config : caf::actor_system_config {
  registered_config() { register_messages(*this); }
};

template <class T>
T round_trip(caf::actor_system& sys, T x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  if (auto err = sink(x))
    CAF_FAIL("serialization failed: " << sys.render(err));
  T y;
  caf::binary_deserializer source{sys, buf};
  if (auto err = source(y))
    CAF_FAIL("deserialization failed: " << sys.render(err));
  return y;
}

} // namespace

CAF_TEST(every message type is registered under its own name) {
  registered_config cfg;
  caf::actor_system sys{cfg};
  auto name_of = [&](const std::type_info& ti) { return sys.types().portable_name(0, &ti); };
  CAF_CHECK_EQUAL(name_of(typeid(hello)), "montana::hello");
  CAF_CHECK_EQUAL(name_of(typeid(claim)), "montana::claim");
  CAF_CHECK_EQUAL(name_of(typeid(released)), "montana::released");
  CAF_CHECK_EQUAL(name_of(typeid(child_failed)), "montana::child_failed");
}

CAF_TEST(wire messages survive serialization) {
  registered_config cfg;
  caf::actor_system sys{cfg};
  auto c = round_trip(sys, claim{"bot", "moscow", 42});
  CAF_CHECK_EQUAL(c.duty, "bot");
  CAF_CHECK_EQUAL(c.from, "moscow");
  CAF_CHECK_EQUAL(c.term, 42u);
  auto v = round_trip(sys, verdict_changed{"spb", verdict::suspect, "ping timeout"});
  CAF_CHECK(v.value == verdict::suspect);
  CAF_CHECK_EQUAL(v.reason, "ping timeout");
}

CAF_TEST(garbage bytes do not deserialize into a message) {
  registered_config cfg;
  caf::actor_system sys{cfg};
  std::vector<char> garbage{'\xff', '\xff', '\xff', '\xff', '\x01'};
  claim c;
  caf::binary_deserializer source{sys, garbage};
  CAF_CHECK(source(c) != caf::none);
}
