#define CAF_SUITE actors.inspector
#include "caf/test/dsl.hpp"

#include "actors/console.hpp"
#include "actors/inspector.hpp"

#include <memory>
#include <optional>

using namespace montana;

// The inspector's place in the supervision tree: its consoles end with it, but a console that
// fails does not take it (and so the node) down. Its status and introspection are covered by
// the integration suites.

namespace {

struct config : caf::actor_system_config {
  config() { register_messages(*this); }
};

struct fixture : test_coordinator_fixture<config> {
  fixture() {
    inspector_params params;
    params.self = "moscow";
    inspector = spawn_inspector(sys, std::move(params));
    inspector->attach_functor([this](const caf::error& reason) { inspector_exit = reason; });
  }

  ~fixture() override {
    caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
    consume_messages();
  }

  /// A console for operator alice, as the shell endpoint asks for one for a connected shell.
  caf::actor open_console() {
    std::optional<caf::actor> console;
    sys.spawn([&, i = inspector](caf::event_based_actor* client) {
      client
          ->request(i, caf::infinite, console_atom::value, std::string{"alice"},
                    console_sink{[](std::string) {}})
          .then([&](caf::actor& x) { console = std::move(x); },
                [&](caf::error& err) { CAF_MESSAGE("no console: " << sys.render(err)); });
    });
    consume_messages();
    CAF_REQUIRE(console);
    return *console;
  }

  caf::actor inspector;
  std::optional<caf::error> inspector_exit;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(inspector_tests, fixture)

CAF_TEST(a console that fails leaves the inspector running) {
  auto console = open_console();
  // As a coroutine's exception ends an actor (a `kill` could not be trapped by anyone).
  caf::anon_send(console,
                 caf::exit_msg{console.address(), caf::make_error(caf::sec::runtime_error)});
  consume_messages();
  CAF_CHECK(!inspector_exit.has_value());
  // Still answering.
  CAF_CHECK(open_console() != nullptr);
}

CAF_TEST(the consoles end with the inspector) {
  auto console = open_console();
  auto console_gone = std::make_shared<bool>(false);
  console->attach_functor([console_gone] { *console_gone = true; });
  caf::anon_send_exit(inspector, caf::exit_reason::kill);
  consume_messages();
  CAF_CHECK(inspector_exit.has_value());
  CAF_CHECK(*console_gone);
}

CAF_TEST_FIXTURE_SCOPE_END()
