#include "actors/prover.hpp"

#include "messages/messages.hpp"

#include <spdlog/spdlog.h>

namespace montana {

caf::actor spawn_refresher(caf::actor_system& sys, prover_ptr p, std::chrono::milliseconds period) {
  return sys.spawn<caf::detached + caf::hidden>(
      [p, period](caf::event_based_actor* self) -> caf::behavior {
        self->delayed_send(self, period, tick_atom::value);
        return {
            [=](tick_atom) {
              // A failed refresh (a full disk, say) must not end the refreshing.
              try {
                p->refresh();
              } catch (const std::exception& e) {
                spdlog::warn("identity refresh failed: {}", e.what());
              }
              self->delayed_send(self, period, tick_atom::value);
            },
        };
      });
}

} // namespace montana
