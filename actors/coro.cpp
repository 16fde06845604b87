#include "actors/coro.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cxxabi.h>
#include <memory>
#include <string>
#include <typeinfo>

namespace montana::co {

namespace {

std::string demangle(const std::type_info* type) {
  if (type == nullptr)
    return "unknown type";
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(type->name(), nullptr, nullptr, &status), std::free};
  return status == 0 ? name.get() : type->name();
}

/// Names the exception being handled: its dynamic type, and what() when it has one.
std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return demangle(&typeid(e)) + ": " + e.what();
  } catch (...) {
    return demangle(abi::__cxa_current_exception_type());
  }
}

} // namespace

scope::~scope() {
  // Destroying a frame runs user code (the destructors of its locals), which could park another
  // frame: each pass walks a table that nothing else changes, and a new pass catches the rest.
  while (!frames_.empty()) {
    auto frames = std::exchange(frames_, {});
    for (auto& [id, frame] : frames)
      frame.destroy();
  }
}

void task::promise_type::unhandled_exception() const noexcept {
  auto* self = scope_->self();
  auto what = describe_current_exception();
  spdlog::error("actor {} [{}]: coroutine failed: {}", self->name(), self->id(), what);
  // The handler that started or resumed this coroutine returns normally; CAF then runs the actor's
  // exit, which destroys the actor's other suspended frames with its state.
  self->quit(caf::make_error(caf::sec::runtime_error, std::move(what)));
}

namespace detail {

caf::message_id expect_wake(caf::event_based_actor* self, caf::timespan timeout,
                            caf::behavior on_wake) {
  // The same three steps as `request(...).then(...)`, minus the send: CAF delivers either our own
  // answer to this id or its request_timeout error to `on_wake`, never both, and drops both once
  // the actor quit. These members are public but undocumented in CAF 0.17 (`@cond PRIVATE`).
  auto mid = self->new_request_id(caf::message_priority::normal);
  self->add_multiplexed_response_handler(mid.response_id(), std::move(on_wake));
  self->request_response_timeout(caf::duration{timeout}, mid);
  return mid.response_id();
}

void sleep_awaiter::await_suspend(std::coroutine_handle<> frame) {
  auto id = scope_access::next_id(scope_);
  auto* s = &scope_;
  expect_wake(scope_.self(), duration_,
              caf::behavior{[s, id](caf::error&) { scope_access::wake(*s, id, [] {}); }});
  scope_access::park(scope_, id, frame);
}

bool wait_awaiter::await_ready() const noexcept {
  return signal_.notified_;
}

void wait_awaiter::await_suspend(std::coroutine_handle<> frame) {
  auto id = scope_access::next_id(scope_);
  auto* s = &scope_;
  auto* awaiter = this;
  auto on_notify = [s, id](bool) { scope_access::wake(*s, id, [] {}); };
  auto on_timeout = [s, id, awaiter](caf::error&) {
    scope_access::wake(*s, id, [awaiter] { awaiter->time_out(); });
  };
  wake_id_ = expect_wake(scope_.self(), timeout_, caf::behavior{on_notify, on_timeout});
  signal_.waiters_.push_back({caf::actor_cast<caf::weak_actor_ptr>(scope_.self()), wake_id_});
  scope_access::park(scope_, id, frame);
}

void wait_awaiter::time_out() {
  notified_ = false;
  // A reusable signal would otherwise collect one stale waiter per timed-out wait.
  std::erase_if(signal_.waiters_,
                [this](const signal::waiter& w) { return w.wake_id == wake_id_; });
}

} // namespace detail

void signal::notify() {
  notified_ = true;
  // Answer each wait's request id: CAF runs the waiter's handler in a message of its own, so no
  // coroutine resumes inside the caller's handler.
  for (auto& w : std::exchange(waiters_, {}))
    if (auto self = caf::actor_cast<caf::strong_actor_ptr>(w.self))
      self->get()->eq_impl(w.wake_id, self, nullptr, true);
}

} // namespace montana::co
