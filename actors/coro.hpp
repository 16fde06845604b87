// C++20 coroutines inside CAF 0.17 event-based actors: `co_await` a request, a sleep or a signal,
// and resume inside the actor's own message handling.
//
//   struct leader_state {
//     explicit leader_state(caf::stateful_actor<leader_state>* self) : self(self) {}
//     caf::stateful_actor<leader_state>* self;
//     co::signal released;
//     co::scope coros{self}; // last member: frames die before the members they use
//   };
//
//   co::task hand_over(co::scope& coros, leader_state& st, caf::actor supervisor) {
//     auto why = stop_duty{"handover"}; // not inside the co_await statement: see the rules
//     auto stopped = co_await co::request<void>(coros, supervisor, 5s, why);
//     if (!stopped)
//       co_return;
//     bool all_released = co_await st.released.wait(coros, 3s);
//     // Other messages ran meanwhile: re-check `st` before acting on `all_released`.
//   }
//
// Rules for users:
// - Other messages run while a coroutine is suspended: re-check state after every `co_await`.
// - A `co::task` coroutine takes its `co::scope&` as a parameter (checked at compile time); the
//   scope names the actor that runs it and owns its frame while it is suspended.
// - Take every other parameter by value: a reference into the current message dangles after the
//   first suspension. Never make a capturing lambda a coroutine (the closure dies first).
// - The scope is a member of the actor's state, declared after everything its coroutines use:
//   CAF 0.17 destroys the state in `on_exit`, and the scope then destroys every suspended frame
//   (running the destructors of its locals) before the other members go.
// - A `co::signal` belongs to the state of the one actor whose coroutines wait on it, and
//   outlives their waits.
// - Never aggregate-initialise (`hello{...}`, `hello(...)`, `std::array{...}`) anywhere in a
//   statement that contains `co_await`: build the message in a statement of its own and pass the
//   variable, which `co::request` copies. g++ 12 miscompiles such a temporary in a coroutine: it
//   builds the members in one frame slot, hands out a bitwise copy in another and destroys both,
//   so a `std::string` member is freed twice, or (short string) the copy points into the frame
//   and whoever moves from it later frees a frame address. `co::request` therefore rejects an
//   rvalue aggregate that is not trivially copyable at compile time, `std::move(named)` included
//   (it cannot be told apart from a temporary). It cannot see one nested in another argument
//   (`std::make_tuple(hello{...})`) or elsewhere in the statement. Non-aggregate temporaries
//   (`std::string(...)`, `caf::actor{...}`, `std::tuple`) and trivially copyable aggregates are
//   fine; clang is not affected.
//
// Changes against the first API draft:
// - `scope` takes `caf::event_based_actor*` (a `stateful_actor<S>*` converts): `request` lives
//   in CAF's requester mixin of event_based_actor, not in scheduled_actor.
// - No wake-up handler in the behavior: every wake-up is a response to a request id that only
//   this layer knows (see `expect_wake` in coro.cpp). CAF routes responses past the behavior, so
//   no handler can be forgotten, and CAF drops them once the actor quit. `montana::wake_atom` is
//   therefore not used here.
// - `request` names the reply type `void` (not `caf::unit_t`) for an empty reply.
#pragma once

#include <caf/all.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace montana::co {

namespace detail {
struct scope_access;
} // namespace detail

/// The suspended coroutines of one actor, each under a numeric id; lives in the actor's state.
class scope {
public:
  /// `self` runs every coroutine of this scope.
  explicit scope(caf::event_based_actor* self) noexcept : self_(self) {}

  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

  /// Destroys every frame still suspended: the actor is exiting and nothing will wake them.
  ~scope();

  /// The actor that runs this scope's coroutines.
  caf::event_based_actor* self() const noexcept { return self_; }

  /// How many coroutines are suspended right now.
  std::size_t suspended() const noexcept { return frames_.size(); }

private:
  friend struct detail::scope_access;

  caf::event_based_actor* self_;
  uint64_t last_id_ = 0;
  std::map<uint64_t, std::coroutine_handle<>> frames_;
};

/// Return type of a fire-and-forget coroutine run inside an actor.
///
/// It starts at once and runs until its first suspension; its frame frees itself at the end. An
/// exception escaping it is logged and makes the actor quit with `sec::runtime_error`.
class task {
public:
  /// Coroutine plumbing: finds the owning scope among the coroutine's parameters.
  class promise_type {
  public:
    template <class... Ts>
    explicit promise_type(Ts&... params) noexcept : scope_(find_scope(params...)) {}

    task get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept;

  private:
    static scope* scope_of(scope& x) noexcept { return &x; }

    template <class T>
    static scope* scope_of(T&) noexcept {
      return nullptr;
    }

    template <class... Ts>
    static scope* find_scope(Ts&... params) noexcept {
      static_assert((std::is_same_v<Ts, scope> || ...),
                    "a co::task coroutine needs a co::scope& parameter: it names the actor that "
                    "runs the coroutine");
      scope* found = nullptr;
      ((found = found != nullptr ? found : scope_of(params)), ...);
      return found;
    }

    scope* scope_;
  };
};

class signal;

namespace detail {

/// The scope's bookkeeping, reserved for the awaitables of this header.
struct scope_access {
  static uint64_t next_id(scope& s) noexcept { return ++s.last_id_; }

  static void park(scope& s, uint64_t id, std::coroutine_handle<> frame) {
    s.frames_.emplace(id, frame);
  }

  /// Resumes frame `id` after `deliver` stored its result, or does nothing when that frame no
  /// longer waits (it was destroyed): a late timer or reply must not touch a freed frame.
  template <class Deliver>
  static void wake(scope& s, uint64_t id, Deliver&& deliver) {
    auto i = s.frames_.find(id);
    if (i == s.frames_.end())
      return;
    std::forward<Deliver>(deliver)();
    auto frame = i->second;
    s.frames_.erase(i);
    frame.resume();
  }
};

/// Makes `on_wake` the one-shot handler of a fresh request id that no message was sent with, and
/// arms CAF's request timeout for it; returns the response id to answer.
caf::message_id expect_wake(caf::event_based_actor* self, caf::timespan timeout,
                            caf::behavior on_wake);

/// Maps the reply types of `co::request` to what it yields.
template <class... R>
struct reply {
  using type = caf::expected<std::tuple<R...>>;
};

template <class R>
struct reply<R> {
  using type = caf::expected<R>;
};

template <>
struct reply<void> {
  using type = caf::expected<void>;
};

/// Awaiter of `co::sleep`.
class sleep_awaiter {
public:
  sleep_awaiter(scope& s, caf::timespan duration) noexcept : scope_(s), duration_(duration) {}

  bool await_ready() const noexcept { return duration_ <= caf::timespan::zero(); }
  void await_suspend(std::coroutine_handle<> frame);
  void await_resume() const noexcept {}

private:
  scope& scope_;
  caf::timespan duration_;
};

/// Awaiter of `co::request`: sends the request when the coroutine suspends.
template <class Handle, class Args, class... R>
class request_awaiter {
public:
  using result_type = typename reply<R...>::type;

  request_awaiter(scope& s, Handle dest, caf::timespan timeout, Args args)
      : scope_(s), dest_(std::move(dest)), timeout_(timeout), args_(std::move(args)) {}

  bool await_ready() const noexcept { return false; }

  void await_suspend(std::coroutine_handle<> frame) {
    auto id = scope_access::next_id(scope_);
    auto* self = scope_.self();
    auto handle = std::apply(
        [&](auto&... xs) { return self->request(dest_, timeout_, std::move(xs)...); }, args_);
    handle.then(on_value(id), on_error(id));
    scope_access::park(scope_, id, frame);
  }

  result_type await_resume() { return std::move(*result_); }

private:
  auto on_value(uint64_t id) {
    auto* s = &scope_;
    auto* out = &result_;
    if constexpr (std::is_same_v<result_type, caf::expected<void>>) {
      return [s, id, out]() { scope_access::wake(*s, id, [out] { out->emplace(); }); };
    } else if constexpr (sizeof...(R) == 1) {
      return [s, id, out](R&... x) {
        scope_access::wake(*s, id, [&] { out->emplace(std::move(x)...); });
      };
    } else {
      return [s, id, out](R&... xs) {
        scope_access::wake(*s, id, [&] { out->emplace(std::make_tuple(std::move(xs)...)); });
      };
    }
  }

  auto on_error(uint64_t id) {
    auto* s = &scope_;
    auto* out = &result_;
    return [s, id, out](caf::error& err) {
      scope_access::wake(*s, id, [&] { out->emplace(std::move(err)); });
    };
  }

  scope& scope_;
  Handle dest_;
  caf::timespan timeout_;
  Args args_;
  std::optional<result_type> result_;
};

/// What `co::request` demands of each message argument. It fails for a temporary that g++ 12 may
/// have built wrongly in the `co_await` statement (see the rules above): an aggregate whose copy is
/// not a plain byte copy. `Ts&&` deduces a non-reference type for every rvalue, prvalue and
/// `std::move(x)` alike. Fix a failure by naming the aggregate first and passing the variable.
template <class T>
concept not_an_aggregate_temporary =
    std::is_reference_v<T> || !std::is_aggregate_v<std::remove_cv_t<T>> ||
    std::is_trivially_copyable_v<std::remove_cv_t<T>>;

/// Awaiter of `co::signal::wait`.
class wait_awaiter {
public:
  wait_awaiter(signal& sig, scope& s, caf::timespan timeout) noexcept
      : signal_(sig), scope_(s), timeout_(timeout) {}

  bool await_ready() const noexcept;
  void await_suspend(std::coroutine_handle<> frame);
  bool await_resume() const noexcept { return notified_; }

private:
  void time_out();

  signal& signal_;
  scope& scope_;
  caf::timespan timeout_;
  caf::message_id wake_id_;
  bool notified_ = true;
};

} // namespace detail

/// What `co_await co::request<R...>` yields.
template <class... R>
using reply_t = typename detail::reply<R...>::type;

/// Suspends the calling coroutine for `duration` of the actor's clock; zero or less does not
/// suspend.
inline detail::sleep_awaiter sleep(scope& s, caf::timespan duration) noexcept {
  return {s, duration};
}

/// Sends `xs...` to `dest` and suspends until the reply: yields `caf::expected<R>` for one reply
/// type, `caf::expected<std::tuple<R...>>` for several, `caf::expected<void>` for `R = void` (an
/// empty reply, e.g. `caf::unit`). Holds `sec::request_timeout` after `timeout`, or the error the
/// callee sent; a reply of other types gives `sec::unexpected_response`. Lvalue arguments are
/// copied; an aggregate message must be one (see the rules above), checked by a constraint rather
/// than a static_assert so that a requires-expression can tell the form is rejected.
template <class... R, class Handle, detail::not_an_aggregate_temporary... Ts> // see user rules
auto request(scope& s, const Handle& dest, caf::timespan timeout, Ts&&... xs)
    -> detail::request_awaiter<Handle, std::tuple<std::decay_t<Ts>...>, R...> {
  static_assert(sizeof...(R) > 0, "name the reply type(s), or void for an empty reply");
  static_assert(sizeof...(R) == 1 || !(std::is_void_v<R> || ...), "void stands alone");
  static_assert(!(std::is_same_v<R, caf::unit_t> || ...),
                "a caf::unit reply arrives as an empty message: use co::request<void>");
  return {s, dest, timeout, std::make_tuple(std::forward<Ts>(xs)...)};
}

/// A flag that coroutines of one actor wait on with a timeout and its other handlers raise.
///
/// It stays raised until `reset()`, so a `notify()` that comes before the wait is not lost.
/// Waiters resume in messages of their own, after the handler that called `notify()`.
class signal {
public:
  signal() = default;
  signal(const signal&) = delete;
  signal& operator=(const signal&) = delete;

  /// Raises the flag and wakes every waiting coroutine with `true`.
  void notify();

  /// Lowers the flag, so the signal can be waited on again.
  void reset() noexcept { notified_ = false; }

  /// Whether the flag is raised.
  bool notified() const noexcept { return notified_; }

  /// How many coroutines wait on the signal right now.
  std::size_t waiting() const noexcept { return waiters_.size(); }

  /// `co_await`: true once notified (at once if the flag is raised), false after `timeout`.
  detail::wait_awaiter wait(scope& s, caf::timespan timeout) noexcept {
    return {*this, s, timeout};
  }

private:
  friend class detail::wait_awaiter;

  struct waiter {
    caf::weak_actor_ptr self;
    caf::message_id wake_id;
  };

  bool notified_ = false;
  std::vector<waiter> waiters_;
};

} // namespace montana::co
