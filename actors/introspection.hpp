// What every actor keeps so that it can answer `inspect_atom`: counters of the messages it
// handled and the errors it saw, and the common part of its actor_info.
#pragma once

#include "messages/messages.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace montana {

/// Per-actor counters, a member of the actor's state.
struct actor_counters {
  uint64_t handled = 0;
  uint64_t errors = 0;
};

namespace detail {

template <class F, class Result, class... Args>
auto count_calls(uint64_t* handled, F f, caf::detail::type_list<Args...>) {
  return [handled, f = std::move(f)](Args... xs) -> Result {
    ++*handled;
    return f(std::forward<Args>(xs)...);
  };
}

} // namespace detail

/// `handlers` as one behavior whose every handled message counts in `counters.handled`. The
/// counters must outlive the behavior (a member of the actor's state does).
template <class... Fs>
caf::behavior counted(actor_counters& counters, Fs... handlers) {
  return caf::behavior{
      detail::count_calls<Fs, typename caf::detail::get_callable_trait<Fs>::result_type>(
          &counters.handled, std::move(handlers),
          typename caf::detail::get_callable_trait<Fs>::arg_types{})...};
}

/// The actor_info of `self` with no state fields yet.
actor_info describe_actor(const caf::local_actor* self, std::string name, std::string kind,
                          const actor_counters& counters);

/// Wall-clock microseconds since the Unix epoch, for the times shown to operators.
int64_t unix_us();

} // namespace montana
