#define CAF_SUITE actors.bot_supervisor
#include "caf/test/dsl.hpp"

#include "actors/bot_supervisor.hpp"
#include "tests/support/fake_launcher.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <sstream>

using namespace montana;
using namespace std::chrono_literals;
using montana::test::fake_launcher;

namespace {

// -- the actor, on virtual time and a fake launcher ------------------------------

struct config : caf::actor_system_config {
  config() { register_messages(*this); }
};

/// What the supervisor told its listener, in order.
struct reports {
  std::vector<std::string> order;
  std::vector<duty_started> started;
  std::vector<duty_exited> exited;
  std::vector<duty_failed> failed;
};

caf::behavior recording_listener(std::shared_ptr<reports> r) {
  return {
      [r](const duty_started& x) {
        r->order.emplace_back("started");
        r->started.push_back(x);
      },
      [r](const duty_exited& x) {
        r->order.emplace_back("exited");
        r->exited.push_back(x);
      },
      [r](const duty_failed& x) {
        r->order.emplace_back("failed");
        r->failed.push_back(x);
      },
  };
}

/// Routes spdlog's default logger into a string while alive.
class log_capture {
public:
  log_capture() {
    auto logger = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(out_));
    logger->set_pattern("%v");
    spdlog::set_default_logger(logger);
  }

  ~log_capture() { spdlog::set_default_logger(previous_); }

  std::string text() const { return out_.str(); }

private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_ = spdlog::default_logger();
};

struct fixture : test_coordinator_fixture<config> {
  fixture() {
    duty.name = "bot";
    duty.command = {"/opt/bot/poll", "--verbose"};
    // A configured MONTANA_NODE_NAME must not change who the child thinks it is.
    duty.env = {{"BOT_MODE", "poll"}, {"MONTANA_NODE_NAME", "amsterdam"}};
    duty.stop_grace = 10s;
    duty.restart_min = 500ms;
    duty.restart_max = 4s;
    listener = sys.spawn(recording_listener, log);
    sup = spawn_bot_supervisor(sys, "moscow", duty, fake, listener);
    consume_messages();
  }

  ~fixture() override {
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
    consume_messages();
  }

  /// Delivers `x` to the supervisor and lets everything settle.
  template <class T>
  void send(T x) {
    caf::anon_send(sup, std::move(x));
    consume_messages();
  }

  void advance(caf::timespan d) {
    advance_time(d);
    consume_messages();
  }

  /// The launcher id of the latest start.
  uint64_t child() const { return fake->starts.back().id; }

  /// Plays the latest child coming up as `pid`.
  void child_up(int32_t pid) { send(child_started{child(), pid}); }

  /// Asks for a stop from a client actor; its answer shows up in `answered`.
  void stop() {
    sys.spawn([this](caf::event_based_actor* client) {
      client->request(sup, caf::infinite, stop_duty{"test"})
          .then([this] { ++answered; }, [this](caf::error& err) { stop_errors.push_back(err); });
    });
    consume_messages();
  }

  /// The value of `key` in the environment of start number `n`.
  std::string env(size_t n, const std::string& key) const {
    const auto& env = fake->starts.at(n).spec.env;
    auto i = env.find(key);
    return i != env.end() ? i->second : "<unset>";
  }

  duty_settings duty;
  std::shared_ptr<fake_launcher> fake = std::make_shared<fake_launcher>();
  std::shared_ptr<reports> log = std::make_shared<reports>();
  caf::actor listener;
  caf::actor sup;
  int answered = 0;
  std::vector<caf::error> stop_errors;
};

using signal_call = fake_launcher::signal_call;
using signals = std::vector<signal_call>;

} // namespace

// -- restart_backoff (pure) ----------------------------------------------------

CAF_TEST(restart backoff doubles up to the cap) {
  restart_backoff b{500ms, 4s};
  std::vector<duration> delays;
  for (int i = 0; i < 6; ++i)
    delays.push_back(b.next(0ms));
  CAF_CHECK_EQUAL(delays, (std::vector<duration>{500ms, 1s, 2s, 4s, 4s, 4s}));
}

CAF_TEST(restart backoff starts over after a child stayed up restart_max) {
  restart_backoff b{500ms, 4s};
  b.next(0ms);
  b.next(3999ms);
  CAF_CHECK_EQUAL(b.next(3999ms), duration{2s});
  CAF_CHECK_EQUAL(b.next(4s), duration{500ms});
  b.next(0ms);
  b.reset();
  CAF_CHECK_EQUAL(b.next(0ms), duration{500ms});
}

// -- the actor ------------------------------------------------------------------

CAF_TEST_FIXTURE_SCOPE(bot_supervisor_tests, fixture)

CAF_TEST(run starts the duty with its identity in the environment) {
  CAF_CHECK(fake->starts.empty());
  send(run_duty{7});
  CAF_REQUIRE_EQUAL(fake->starts.size(), 1u);
  const auto& call = fake->starts[0];
  CAF_CHECK_EQUAL(call.spec.argv, duty.command);
  CAF_CHECK_EQUAL(call.spec.tag, "moscow/bot");
  CAF_CHECK_EQUAL(call.listener, sup);
  CAF_CHECK_EQUAL(env(0, "MONTANA_NODE_NAME"), "moscow");
  CAF_CHECK_EQUAL(env(0, "MONTANA_DUTY"), "bot");
  CAF_CHECK_EQUAL(env(0, "MONTANA_TERM"), "7");
  CAF_CHECK_EQUAL(env(0, "BOT_MODE"), "poll");
  CAF_CHECK_EQUAL(call.spec.env.size(), 4u);
}

CAF_TEST(duty_started goes out only on child_started) {
  send(run_duty{7});
  advance(1min);
  CAF_CHECK(log->order.empty());
  child_up(4242);
  CAF_REQUIRE_EQUAL(log->started.size(), 1u);
  CAF_CHECK_EQUAL(log->started[0].duty, "bot");
  CAF_CHECK_EQUAL(log->started[0].term, 7u);
  CAF_CHECK_EQUAL(log->started[0].pid, 4242);
  // A repeated run_duty neither restarts nor re-announces.
  send(run_duty{7});
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  CAF_CHECK_EQUAL(log->started.size(), 1u);
}

CAF_TEST(a new term for a running duty is announced without a restart) {
  send(run_duty{7});
  child_up(4242);
  send(run_duty{8});
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  CAF_CHECK(fake->signals.empty());
  CAF_REQUIRE_EQUAL(log->started.size(), 2u);
  CAF_CHECK_EQUAL(log->started[1].term, 8u);
  CAF_CHECK_EQUAL(log->started[1].pid, 4242);
}

CAF_TEST(child output is logged with node duty and pid) {
  log_capture capture;
  send(run_duty{7});
  child_up(4242);
  send(child_output{child(), "stderr", "polling getUpdates"});
  CAF_CHECK(capture.text().find("[moscow/bot pid 4242] polling getUpdates\n") != std::string::npos);
}

CAF_TEST(a crash restarts the duty with doubling delays up to the cap) {
  send(run_duty{7});
  child_up(100);
  for (auto delay : {500ms, 1000ms, 2000ms, 4000ms, 4000ms}) {
    auto starts = fake->starts.size();
    send(child_exited{child(), 100, 3, 0});
    advance(delay - 1ms);
    CAF_CHECK_EQUAL(fake->starts.size(), starts);
    advance(1ms);
    CAF_REQUIRE_EQUAL(fake->starts.size(), starts + 1);
    CAF_CHECK_EQUAL(env(starts, "MONTANA_TERM"), "7");
    child_up(100);
  }
  CAF_REQUIRE_EQUAL(log->exited.size(), 5u);
  CAF_CHECK_EQUAL(log->exited[0].exit_code, 3);
  CAF_CHECK(!log->exited[0].requested);
  CAF_CHECK_EQUAL(log->started.size(), 6u);
  CAF_CHECK(fake->signals.empty());
}

CAF_TEST(a child that stayed up restart_max resets the backoff) {
  send(run_duty{7});
  child_up(100);
  send(child_exited{child(), 100, 3, 0});
  advance(500ms);
  child_up(101);
  send(child_exited{child(), 101, 3, 0});
  advance(1s);
  CAF_REQUIRE_EQUAL(fake->starts.size(), 3u);
  child_up(102);
  advance(4s);
  send(child_exited{child(), 102, 0, SIGSEGV});
  advance(499ms);
  CAF_CHECK_EQUAL(fake->starts.size(), 3u);
  advance(1ms);
  CAF_CHECK_EQUAL(fake->starts.size(), 4u);
  CAF_CHECK_EQUAL(log->exited.back().signal, SIGSEGV);
}

CAF_TEST(a start failure is reported and retried with backoff but never announced) {
  send(run_duty{7});
  send(child_failed{child(), "/opt/bot/poll: No such file or directory"});
  CAF_REQUIRE_EQUAL(log->failed.size(), 1u);
  CAF_CHECK_EQUAL(log->failed[0].duty, "bot");
  CAF_CHECK_EQUAL(log->failed[0].term, 7u);
  CAF_CHECK_EQUAL(log->failed[0].reason, "/opt/bot/poll: No such file or directory");
  advance(499ms);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  advance(1ms);
  CAF_REQUIRE_EQUAL(fake->starts.size(), 2u);
  send(child_failed{child(), "still missing"});
  advance(999ms);
  CAF_CHECK_EQUAL(fake->starts.size(), 2u);
  advance(1ms);
  CAF_CHECK_EQUAL(fake->starts.size(), 3u);
  CAF_CHECK_EQUAL(log->failed.size(), 2u);
  CAF_CHECK(log->started.empty());
  CAF_CHECK(log->exited.empty());
}

CAF_TEST(stop sends sigterm and answers once the child exited) {
  send(run_duty{7});
  child_up(100);
  auto id = child();
  stop();
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  advance(9s);
  CAF_CHECK_EQUAL(answered, 0);
  send(child_exited{id, 100, 0, SIGTERM});
  CAF_CHECK_EQUAL(answered, 1);
  CAF_REQUIRE_EQUAL(log->exited.size(), 1u);
  CAF_CHECK(log->exited[0].requested);
  CAF_CHECK_EQUAL(log->exited[0].signal, SIGTERM);
  // A requested exit is no crash: nothing restarts, nothing more is signalled.
  advance(1min);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
}

CAF_TEST(a child that ignores sigterm gets sigkill exactly after stop_grace) {
  send(run_duty{7});
  child_up(100);
  auto id = child();
  stop();
  advance(9999ms);
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  advance(1ms);
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}, {id, SIGKILL}}));
  CAF_CHECK_EQUAL(answered, 0);
  send(child_exited{id, 100, 0, SIGKILL});
  CAF_CHECK_EQUAL(answered, 1);
  CAF_CHECK(stop_errors.empty());
}

CAF_TEST(a child not gone after sigkill is killed again until it is) {
  send(run_duty{7});
  child_up(100);
  auto id = child();
  stop();
  advance(10s);
  advance(4999ms);
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}, {id, SIGKILL}}));
  advance(1ms);
  advance(5s);
  CAF_CHECK_EQUAL(fake->signals,
                  (signals{{id, SIGTERM}, {id, SIGKILL}, {id, SIGKILL}, {id, SIGKILL}}));
  CAF_CHECK_EQUAL(answered, 0);
  send(child_exited{id, 100, 0, SIGKILL});
  CAF_CHECK_EQUAL(answered, 1);
}

CAF_TEST(stop when idle answers at once) {
  stop();
  CAF_CHECK_EQUAL(answered, 1);
  CAF_CHECK(fake->signals.empty());
  CAF_CHECK(fake->starts.empty());
}

CAF_TEST(stop while waiting to restart answers at once and cancels the restart) {
  send(run_duty{7});
  child_up(100);
  send(child_exited{child(), 100, 3, 0});
  stop();
  CAF_CHECK_EQUAL(answered, 1);
  advance(1min);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  // A later run starts at once, with the backoff forgotten.
  send(run_duty{8});
  CAF_REQUIRE_EQUAL(fake->starts.size(), 2u);
  child_up(101);
  send(child_exited{child(), 101, 3, 0});
  advance(500ms);
  CAF_CHECK_EQUAL(fake->starts.size(), 3u);
}

CAF_TEST(concurrent stops are all answered once the child is gone) {
  send(run_duty{7});
  child_up(100);
  auto id = child();
  stop();
  stop();
  stop();
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  advance(10s);
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}, {id, SIGKILL}}));
  CAF_CHECK_EQUAL(answered, 0);
  send(child_exited{id, 100, 0, SIGKILL});
  CAF_CHECK_EQUAL(answered, 3);
}

CAF_TEST(run during a stop starts again after the stop completed) {
  send(run_duty{7});
  child_up(100);
  auto id = child();
  stop();
  send(run_duty{8});
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
  send(child_exited{id, 100, 0, SIGTERM});
  CAF_CHECK_EQUAL(answered, 1);
  CAF_REQUIRE_EQUAL(fake->starts.size(), 2u);
  CAF_CHECK_EQUAL(env(1, "MONTANA_TERM"), "8");
  child_up(101);
  CAF_CHECK_EQUAL(log->order, (std::vector<std::string>{"started", "exited", "started"}));
}

CAF_TEST(a stop after a run during a stop wins) {
  send(run_duty{7});
  child_up(100);
  auto id = child();
  stop();
  send(run_duty{8});
  stop();
  send(child_exited{id, 100, 0, SIGTERM});
  CAF_CHECK_EQUAL(answered, 2);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
}

CAF_TEST(stop before child_started signals the spawn and never announces it) {
  send(run_duty{7});
  auto id = child();
  stop();
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}}));
  child_up(100);
  send(child_exited{id, 100, 0, SIGTERM});
  CAF_CHECK_EQUAL(answered, 1);
  CAF_CHECK(log->order.empty());
}

CAF_TEST(stop before a failed start answers once the failure arrived) {
  send(run_duty{7});
  stop();
  CAF_CHECK_EQUAL(answered, 0);
  send(child_failed{child(), "no such file"});
  CAF_CHECK_EQUAL(answered, 1);
  advance(1min);
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
}

CAF_TEST(unknown messages are dropped and do not kill the actor) {
  caf::anon_send(sup, std::string{"garbage"}, 42);
  caf::anon_send(sup, caf::make_error(caf::sec::runtime_error));
  consume_messages();
  caf::error reply;
  sys.spawn([&](caf::event_based_actor* client) {
    client->request(sup, caf::infinite, std::string{"what?"})
        .then([] {}, [&](caf::error& err) { reply = err; });
  });
  consume_messages();
  CAF_CHECK_EQUAL(reply, caf::sec::unexpected_message);
  send(run_duty{7});
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
}

CAF_TEST(a report about another child is ignored) {
  send(run_duty{7});
  child_up(100);
  send(child_exited{child() + 1, 999, 1, 0});
  advance(1min);
  CAF_CHECK(log->exited.empty());
  CAF_CHECK_EQUAL(fake->starts.size(), 1u);
}

CAF_TEST(killing the supervisor sigkills its child and fails pending stops) {
  send(run_duty{7});
  child_up(100);
  auto id = child();
  stop();
  caf::anon_send_exit(sup, caf::exit_reason::kill);
  consume_messages();
  CAF_CHECK_EQUAL(fake->signals, (signals{{id, SIGTERM}, {id, SIGKILL}}));
  CAF_CHECK_EQUAL(answered, 0);
  CAF_CHECK_EQUAL(stop_errors.size(), 1u);
}

CAF_TEST(killing an idle supervisor signals nothing) {
  caf::anon_send_exit(sup, caf::exit_reason::kill);
  consume_messages();
  CAF_CHECK(fake->signals.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
