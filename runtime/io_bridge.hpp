// Asking an actor from a coroutine on the I/O thread: the request runs in a short-lived actor
// and its answer resumes the coroutine on the I/O thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <caf/all.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace montana {

/// `dest`'s answer of type T to `xs...` within `timeout`, or its error.
template <class T, class... Ts>
boost::asio::awaitable<caf::expected<T>> ask_actor(boost::asio::io_context& io,
                                                   caf::actor_system& sys, caf::actor dest,
                                                   std::chrono::milliseconds timeout, Ts... xs) {
  struct answer {
    explicit answer(boost::asio::io_context& io) : ready(io) {}
    std::optional<caf::expected<T>> value;
    boost::asio::steady_timer ready;
  };
  auto state = std::make_shared<answer>(io);
  auto deliver = [&io, state](caf::expected<T> x) {
    boost::asio::post(io, [state, x = std::move(x)]() mutable {
      state->value = std::move(x);
      state->ready.cancel();
    });
  };
  // `dest` as the spawn's argument: CAF 0.17.6 binds a reference to null for a function actor
  // spawned without one (tests/sanitizers/ubsan.supp).
  sys.spawn(
      [=](caf::event_based_actor* self, caf::actor to) {
        self->request(to, timeout, xs...)
            .then([=](T& x) { deliver(std::move(x)); },
                  [=](caf::error& e) { deliver(std::move(e)); });
      },
      dest);
  while (!state->value) {
    boost::system::error_code ec;
    state->ready.expires_at(std::chrono::steady_clock::time_point::max());
    co_await state->ready.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }
  co_return std::move(*state->value);
}

} // namespace montana
