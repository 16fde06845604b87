#include "actors/introspection.hpp"

#include <chrono>

namespace montana {

actor_info describe_actor(const caf::local_actor* self, std::string name, std::string kind,
                          const actor_counters& counters) {
  actor_info out;
  out.name = std::move(name);
  out.kind = std::move(kind);
  out.id = self->id();
  out.handled = counters.handled;
  out.errors = counters.errors;
  return out;
}

int64_t unix_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace montana
