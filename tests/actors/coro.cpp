#define CAF_SUITE actors.coro
#include "caf/test/dsl.hpp"

#include "support/log_capture.hpp"

#include "actors/coro.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace montana;
using montana::testing::log_capture;
using namespace std::chrono_literals;

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using poke_atom = caf::atom_constant<caf::atom("poke")>;
using answer_atom = caf::atom_constant<caf::atom("answer")>;

/// What the coroutines under test did, in order.
using trace = std::vector<std::string>;

/// Counts destructor calls, to see that a suspended frame was destroyed.
struct guard {
  int* destroyed;
  ~guard() { ++*destroyed; }
};

/// Counts its live instances, without owning memory, so that a surplus destruction shows as a
/// negative count instead of a crash.
struct counted {
  static inline int alive = 0;
  int id;
  counted(int id) : id(id) { ++alive; }
  counted(const counted& other) : id(other.id) { ++alive; }
  counted& operator=(const counted&) = default;
  ~counted() { --alive; }
};

/// An aggregate that is not trivially copyable: what g++ 12 double-destroys when it is built in a
/// `co_await` statement (see coro.hpp).
struct tagged {
  counted tag;
  int seq = 0;
};

/// Like the `hello` of the gateway handshake: one short string (kept inline by libstdc++, so a
/// bitwise copy of it points back into the original) and one on the heap.
struct greeting {
  std::string node;
  std::string note;
  uint64_t seq = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, counted& x) {
  return f(caf::meta::type_name("counted"), x.id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tagged& x) {
  return f(caf::meta::type_name("tagged"), x.tag, x.seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, greeting& x) {
  return f(caf::meta::type_name("greeting"), x.node, x.note, x.seq);
}

/// Whether `co::request` takes an argument of type `T`: an rvalue for a non-reference `T`, as
/// `Ts&&` deduces it for a temporary and for `std::move(x)`.
template <class T>
concept request_takes = requires(co::scope& s, caf::actor dest, T&& x) {
  co::request<int>(s, dest, 1s, std::forward<T>(x));
};

struct runner_state {
  explicit runner_state(caf::stateful_actor<runner_state>* self) : self(self) {}
  caf::stateful_actor<runner_state>* self;
  co::signal acked;
  co::scope coros{self};
  static inline const char* name = "coro-runner";
};

using runner_actor = caf::stateful_actor<runner_state>;

/// What a runner starts on `go`: calls one or more coroutines.
using starter = std::function<void(runner_state&)>;

/// Starts coroutines on `go`, raises `acked` on `ack` and records `poke`s in `steps`.
caf::behavior runner(runner_actor* self, starter start, trace* steps) {
  return {
      [=](go_atom) { start(self->state); },
      [=](ack_atom) {
        self->state.acked.notify();
        steps->push_back("ack handled");
      },
      [=](poke_atom) { steps->push_back("poked"); },
  };
}

struct callee_state {
  std::vector<caf::response_promise> unanswered;
  static inline const char* name = "coro-callee";
};

using callee_actor = caf::stateful_actor<callee_state>;

/// Answers each request by its types; keeps `go` requests unanswered until `answer` (then 7).
caf::behavior callee(callee_actor* self) {
  return {
      [](int x) { return x * 2; },
      [](int x, int y) -> caf::result<int, std::string> {
        return {x + y, std::to_string(x * y)};
      },
      [](const std::string& x) { return x; },
      [](const tagged& x) { return x.tag.id * 100 + x.seq; },
      [](const greeting& x) { return x.node + "|" + x.note + "|" + std::to_string(x.seq); },
      [](ack_atom) { return caf::unit; },
      [](poke_atom) {},
      [=](go_atom) {
        self->state.unanswered.push_back(self->make_response_promise());
        return self->state.unanswered.back();
      },
      [=](answer_atom) {
        for (auto& promise : self->state.unanswered)
          promise.deliver(7);
        self->state.unanswered.clear();
      },
  };
}

// -- coroutines under test ------------------------------------------------------

co::task sleep_once(co::scope& coros, trace* steps, caf::timespan duration) {
  steps->push_back("start");
  co_await co::sleep(coros, duration);
  steps->push_back("woke");
}

co::task sleep_twice(co::scope& coros, trace* steps, std::string name, caf::timespan first,
                     caf::timespan second) {
  co_await co::sleep(coros, first);
  steps->push_back(name + " 1");
  co_await co::sleep(coros, second);
  steps->push_back(name + " 2");
}

template <class... R, class... Ts>
co::task ask(co::scope& coros, caf::actor dest, std::optional<co::reply_t<R...>>* out, Ts... xs) {
  *out = co_await co::request<R...>(coros, dest, 1s, xs...);
}

/// Builds the `tagged` inside the `co_await` statement whenever `co::request` accepts that, as the
/// layer did before it rejected aggregate temporaries, and in a statement of its own otherwise.
template <class Msg>
co::task send_tagged(co::scope& coros, caf::actor dest, std::optional<caf::expected<int>>* out) {
  if constexpr (request_takes<Msg>) {
    *out = co_await co::request<int>(coros, dest, 1s, Msg{counted{4}, 2});
  } else {
    auto msg = Msg{counted{4}, 2};
    *out = co_await co::request<int>(coros, dest, 1s, msg);
  }
}

co::task greet(co::scope& coros, caf::actor dest, std::optional<caf::expected<std::string>>* out,
               trace* steps) {
  auto msg = greeting{"n1", std::string(40, 'x'), 7};
  *out = co_await co::request<std::string>(coros, dest, 1s, msg);
  // The message got a copy: the variable is intact after the suspension.
  steps->push_back(msg.node + "|" + msg.note + "|" + std::to_string(msg.seq));
}

co::task wait_for_ack(co::scope& coros, co::signal& sig, trace* steps, caf::timespan timeout) {
  auto notified = co_await sig.wait(coros, timeout);
  steps->push_back(notified ? "notified" : "timed out");
}

co::task wait_twice(co::scope& coros, co::signal& sig, trace* steps) {
  auto first = co_await sig.wait(coros, 5s);
  steps->push_back(first ? "first notified" : "first timed out");
  sig.reset();
  auto second = co_await sig.wait(coros, 5s);
  steps->push_back(second ? "second notified" : "second timed out");
}

co::task guarded_sleep(co::scope& coros, trace* steps, int* destroyed) {
  guard g{destroyed};
  co_await co::sleep(coros, 10s);
  steps->push_back("sleeper woke");
}

co::task guarded_request(co::scope& coros, caf::actor dest, trace* steps, int* destroyed) {
  guard g{destroyed};
  auto answer = co_await co::request<int>(coros, dest, 10s, go_atom::value);
  steps->push_back(answer ? "answered" : "request failed");
}

co::task throw_after_sleep(co::scope& coros, trace* steps) {
  co_await co::sleep(coros, 1s);
  steps->push_back("throwing");
  throw std::runtime_error("boom");
}

co::task throw_at_once(co::scope&) {
  throw 42;
  co_return; // makes this a coroutine
}

struct fixture : test_coordinator_fixture<> {
  trace steps;

  ~fixture() override {
    // Coroutines write into `steps`: end every actor before the members go.
    for (auto& hdl : spawned)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    consume_messages();
  }

  caf::actor spawn_runner(starter start) {
    auto hdl = sys.spawn(runner, std::move(start), &steps);
    spawned.push_back(hdl);
    consume_messages();
    return hdl;
  }

  caf::actor spawn_callee() {
    auto hdl = sys.spawn(callee);
    spawned.push_back(hdl);
    consume_messages();
    return hdl;
  }

  /// Records the exit reason of `hdl` into the returned slot once it exits.
  std::shared_ptr<std::optional<caf::error>> exit_reason_of(const caf::actor& hdl) {
    auto reason = std::make_shared<std::optional<caf::error>>();
    hdl->attach_functor([reason](const caf::error& err) { *reason = err; });
    return reason;
  }

  runner_state& state_of(const caf::actor& hdl) { return deref<runner_actor>(hdl).state; }

  std::vector<caf::actor> spawned;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(coro_tests, fixture)

CAF_TEST(sleep resumes after the duration and not before) {
  auto hdl = spawn_runner([this](runner_state& st) { sleep_once(st.coros, &steps, 5s); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"start"}));
  CAF_CHECK_EQUAL(state_of(hdl).coros.suspended(), 1u);
  advance_time(4s);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"start"}));
  advance_time(1s);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"start", "woke"}));
  CAF_CHECK_EQUAL(state_of(hdl).coros.suspended(), 0u);
}

CAF_TEST(sleep of zero does not suspend) {
  auto hdl = spawn_runner([this](runner_state& st) { sleep_once(st.coros, &steps, 0s); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"start", "woke"}));
}

CAF_TEST(request yields the reply) {
  auto dest = spawn_callee();
  std::optional<caf::expected<int>> got;
  auto hdl = spawn_runner([&](runner_state& st) { ask<int>(st.coros, dest, &got, 21); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_REQUIRE(got && *got);
  CAF_CHECK_EQUAL(**got, 42);
}

CAF_TEST(request yields request_timeout when the callee never answers) {
  auto dest = spawn_callee();
  std::optional<caf::expected<int>> got;
  auto hdl =
      spawn_runner([&](runner_state& st) { ask<int>(st.coros, dest, &got, go_atom::value); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  advance_time(999ms);
  consume_messages();
  CAF_CHECK(!got);
  advance_time(1ms);
  consume_messages();
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(got->error(), caf::sec::request_timeout);
  // A reply after the timeout must not resume the coroutine a second time.
  got.reset();
  caf::anon_send(dest, answer_atom::value);
  consume_messages();
  CAF_CHECK(!got);
}

CAF_TEST(request with several reply values yields a tuple) {
  auto dest = spawn_callee();
  std::optional<caf::expected<std::tuple<int, std::string>>> got;
  auto hdl =
      spawn_runner([&](runner_state& st) { ask<int, std::string>(st.coros, dest, &got, 6, 7); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_REQUIRE(got && *got);
  CAF_CHECK_EQUAL(std::get<0>(**got), 13);
  CAF_CHECK_EQUAL(std::get<1>(**got), "42");
}

CAF_TEST(request of void accepts a unit reply and an empty one) {
  auto dest = spawn_callee();
  std::optional<caf::expected<void>> unit_reply;
  std::optional<caf::expected<void>> empty_reply;
  auto hdl = spawn_runner([&](runner_state& st) {
    ask<void>(st.coros, dest, &unit_reply, ack_atom::value);
    ask<void>(st.coros, dest, &empty_reply, poke_atom::value);
  });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_REQUIRE(unit_reply && empty_reply);
  CAF_CHECK_EQUAL(unit_reply->error(), caf::none);
  CAF_CHECK_EQUAL(empty_reply->error(), caf::none);
}

CAF_TEST(request with a reply of other types yields unexpected_response) {
  auto dest = spawn_callee();
  std::optional<caf::expected<int>> got;
  auto hdl =
      spawn_runner([&](runner_state& st) { ask<int>(st.coros, dest, &got, std::string{"x"}); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(got->error(), caf::sec::unexpected_response);
}

CAF_TEST(request rejects temporary aggregates that g++ 12 may have built wrongly) {
  CAF_CHECK(!request_takes<tagged>);
  CAF_CHECK(!request_takes<greeting>);
  CAF_CHECK(!request_takes<const greeting>);
  CAF_CHECK(request_takes<greeting&>);
  CAF_CHECK(request_takes<const greeting&>);
  CAF_CHECK(request_takes<std::string>);
  CAF_CHECK((request_takes<std::tuple<std::string, int>>));
  CAF_CHECK(request_takes<go_atom>); // an aggregate too, but copied byte by byte
}

CAF_TEST(an aggregate message is built outside the co_await statement and destroyed once) {
  counted::alive = 0;
  auto dest = spawn_callee();
  std::optional<caf::expected<int>> got;
  auto hdl = spawn_runner([&](runner_state& st) { send_tagged<tagged>(st.coros, dest, &got); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_REQUIRE(got && *got);
  CAF_CHECK_EQUAL(**got, 402);
  // Built inside the co_await statement, g++ 12 destroys the `counted` twice: -1.
  CAF_CHECK_EQUAL(counted::alive, 0);
}

CAF_TEST(an aggregate message with short and long strings arrives intact) {
  auto dest = spawn_callee();
  std::optional<caf::expected<std::string>> got;
  auto hdl = spawn_runner([&](runner_state& st) { greet(st.coros, dest, &got, &steps); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  auto expected = "n1|" + std::string(40, 'x') + "|7";
  CAF_REQUIRE(got && *got);
  CAF_CHECK_EQUAL(**got, expected);
  CAF_CHECK_EQUAL(steps, trace({expected}));
}

CAF_TEST(notify resumes the waiter with true after the notifying handler) {
  auto hdl =
      spawn_runner([this](runner_state& st) { wait_for_ack(st.coros, st.acked, &steps, 5s); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace{});
  caf::anon_send(hdl, ack_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"ack handled", "notified"}));
  // The timer armed for the wait must not resume the frame again.
  advance_time(5s);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"ack handled", "notified"}));
}

CAF_TEST(a signal wait times out with false) {
  auto hdl =
      spawn_runner([this](runner_state& st) { wait_for_ack(st.coros, st.acked, &steps, 5s); });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  advance_time(4s);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace{});
  CAF_CHECK_EQUAL(state_of(hdl).acked.waiting(), 1u);
  advance_time(1s);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"timed out"}));
  CAF_CHECK_EQUAL(state_of(hdl).acked.waiting(), 0u);
  caf::anon_send(hdl, ack_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"timed out", "ack handled"}));
}

CAF_TEST(a signal raised before the wait returns true at once and after reset waits again) {
  auto hdl = spawn_runner([this](runner_state& st) { wait_twice(st.coros, st.acked, &steps); });
  caf::anon_send(hdl, ack_atom::value);
  consume_messages();
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"ack handled", "first notified"}));
  advance_time(5s);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"ack handled", "first notified", "second timed out"}));
}

CAF_TEST(two coroutines interleave with other messages in one actor) {
  auto hdl = spawn_runner([this](runner_state& st) {
    sleep_twice(st.coros, &steps, "a", 2s, 2s);
    sleep_twice(st.coros, &steps, "b", 1s, 2s);
  });
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(state_of(hdl).coros.suspended(), 2u);
  caf::anon_send(hdl, poke_atom::value);
  consume_messages();
  for (int i = 0; i < 4; ++i) {
    advance_time(1s);
    consume_messages();
  }
  CAF_CHECK_EQUAL(steps, trace({"poked", "b 1", "a 1", "b 2", "a 2"}));
}

CAF_TEST(killing the actor destroys suspended frames and ignores a late reply) {
  auto dest = spawn_callee();
  int destroyed = 0;
  auto hdl = spawn_runner([&](runner_state& st) {
    guarded_sleep(st.coros, &steps, &destroyed);
    guarded_request(st.coros, dest, &steps, &destroyed);
  });
  auto reason = exit_reason_of(hdl);
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(destroyed, 0);
  caf::anon_send_exit(hdl, caf::exit_reason::kill);
  consume_messages();
  CAF_REQUIRE(reason->has_value());
  CAF_CHECK_EQUAL(**reason, caf::exit_reason::kill);
  CAF_CHECK_EQUAL(destroyed, 2);
  // The late reply reaches a dead actor; CAF cancels the dead actor's timers, so advancing the
  // clock only shows that nothing else is left to fire.
  caf::anon_send(dest, answer_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(advance_time(10s), 0u);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace{});
  CAF_CHECK_EQUAL(destroyed, 2);
}

CAF_TEST(an exception escaping a coroutine is logged and ends the actor with an error) {
  log_capture captured;
  int destroyed = 0;
  auto hdl = spawn_runner([&](runner_state& st) {
    guarded_sleep(st.coros, &steps, &destroyed);
    throw_after_sleep(st.coros, &steps);
  });
  auto reason = exit_reason_of(hdl);
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_CHECK(!reason->has_value());
  advance_time(1s);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"throwing"}));
  CAF_REQUIRE(reason->has_value());
  CAF_CHECK_EQUAL(**reason, caf::sec::runtime_error);
  CAF_CHECK_EQUAL(destroyed, 1);
  auto errors = captured.errors();
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK(errors[0].find("coroutine failed: std::runtime_error: boom") != std::string::npos);
}

CAF_TEST(an exception before the first suspension ends the actor after its handler) {
  log_capture captured;
  auto hdl = spawn_runner([this](runner_state& st) {
    throw_at_once(st.coros);
    steps.push_back("handler went on");
  });
  auto reason = exit_reason_of(hdl);
  caf::anon_send(hdl, go_atom::value);
  consume_messages();
  CAF_CHECK_EQUAL(steps, trace({"handler went on"}));
  CAF_REQUIRE(reason->has_value());
  CAF_CHECK_EQUAL(**reason, caf::sec::runtime_error);
  auto errors = captured.errors();
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK(errors[0].find("coroutine failed: int") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
