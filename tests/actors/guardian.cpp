#define CAF_SUITE actors.guardian
#include "caf/test/dsl.hpp"

#include "actors/guardian.hpp"
#include "tests/support/virtual_time.hpp"

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace montana;
using namespace std::chrono_literals;

// The guardian is the root of a node's supervision: these check who it ends when a member exits
// on its own, in which order, what it tells the node, and its health round.

namespace {

struct config : caf::actor_system_config {
  config() { register_messages(*this); }
};

/// Who exited, in order, as "ROLE NAME".
using exits = std::vector<std::string>;

/// A member: answers inspect_atom while `answering`, else keeps the request waiting forever (a
/// wedged actor) so that the guardian's own bound has to decide.
struct member_log {
  bool answering = true;
  std::vector<caf::response_promise> unanswered;
};

caf::behavior member(caf::event_based_actor* self, std::shared_ptr<member_log> log) {
  return {
      // Ends normally, as no core actor does on its own.
      [=](stop_atom) { self->quit(); },
      [=](inspect_atom) -> caf::result<actor_info> {
        if (log->answering)
          return actor_info{"member", "test", self->id(), 0, 0, {}};
        log->unanswered.push_back(self->make_response_promise());
        return log->unanswered.back();
      },
  };
}

struct fixture : test_coordinator_fixture<config> {
  fixture() {
    guardian_params params;
    params.self = "moscow";
    params.failed = [this](const std::string& why) { failures.push_back(why); };
    guardian = spawn_guardian(sys, std::move(params));
  }

  ~fixture() override {
    for (auto& a : members)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(guardian, caf::exit_reason::user_shutdown);
    consume_messages();
  }

  /// Spawns a member with `role` and `name`, joined to the guardian; its exit is written down.
  caf::actor join(const std::string& role, const std::string& name,
                  std::shared_ptr<member_log> log = std::make_shared<member_log>()) {
    auto a = sys.spawn(member, log);
    a->attach_functor([this, text = role + " " + name] { exited.push_back(text); });
    caf::anon_send(guardian, register_atom::value, role, name, a);
    consume_messages();
    members.push_back(a);
    return a;
  }

  /// The guardian's answer to a health round bounded by `bound`, once time passed.
  std::optional<health_report> health(caf::timespan bound, caf::timespan wait) {
    auto answer = std::make_shared<std::optional<health_report>>();
    auto g = guardian;
    sys.spawn([=](caf::event_based_actor* client) {
      client->request(g, caf::infinite, health_atom::value, bound).then([=](health_report& x) {
        *answer = std::move(x);
      });
    });
    test::pass_time(*this, wait);
    return *answer;
  }

  caf::actor guardian;
  std::vector<caf::actor> members;
  exits exited;
  std::vector<std::string> failures;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(guardian_tests, fixture)

CAF_TEST(an unexpected exit ends the duties first then every other member then tells the node) {
  auto probe = join("probe", "amsterdam");
  join("peer", "moscow");
  join("leader", "bot");
  join("supervisor", "bot");
  join("breather", "moscow");
  caf::anon_send_exit(probe, caf::exit_reason::kill);
  consume_messages();
  CAF_REQUIRE_EQUAL(exited.size(), 5u);
  CAF_CHECK_EQUAL(exited[0], "probe amsterdam");
  // The duties' actors go first: only then does the node leave the cluster.
  CAF_CHECK_EQUAL((std::set<std::string>{exited[1], exited[2]}),
                  (std::set<std::string>{"leader bot", "supervisor bot"}));
  CAF_CHECK_EQUAL((std::set<std::string>{exited[3], exited[4]}),
                  (std::set<std::string>{"peer moscow", "breather moscow"}));
  CAF_REQUIRE_EQUAL(failures.size(), 1u);
  CAF_CHECK_EQUAL(failures[0].rfind("probe amsterdam exited: ", 0), 0u);
  CAF_MESSAGE("failure: " << failures[0]);
  // A failed node is unhealthy, and whatever joins it now goes at once.
  auto report = health(100ms, 1ms);
  CAF_REQUIRE(report);
  CAF_CHECK_EQUAL(report->failure, failures[0]);
  join("probe", "spb");
  CAF_CHECK_EQUAL(exited.back(), "probe spb");
  CAF_CHECK_EQUAL(failures.size(), 1u);
}

CAF_TEST(a member that ends normally fails the node too) {
  join("peer", "moscow");
  auto inspector = join("inspector", "moscow");
  caf::anon_send(inspector, stop_atom::value);
  consume_messages();
  CAF_REQUIRE_EQUAL(failures.size(), 1u);
  CAF_CHECK_EQUAL(failures[0], "inspector moscow exited normally");
  CAF_CHECK_EQUAL(exited.back(), "peer moscow");
}

CAF_TEST(a member gone before it joined is noticed) {
  auto a = sys.spawn(member, std::make_shared<member_log>());
  caf::anon_send_exit(a, caf::exit_reason::kill);
  consume_messages();
  caf::anon_send(guardian, register_atom::value, std::string{"probe"}, std::string{"spb"}, a);
  consume_messages();
  CAF_REQUIRE_EQUAL(failures.size(), 1u);
  CAF_CHECK_EQUAL(failures[0].rfind("probe spb exited: ", 0), 0u);
}

CAF_TEST(a duty that does not go within its bound does not keep the node in the cluster) {
  auto probe = join("probe", "amsterdam");
  join("peer", "moscow");
  // A leader that ignores its exit (wedged in a handler, say) is modelled by one that traps it.
  auto leader = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    self->set_exit_handler([](caf::exit_msg&) {});
    return {[](inspect_atom) {}};
  });
  caf::anon_send(guardian, register_atom::value, std::string{"leader"}, std::string{"bot"}, leader);
  consume_messages();
  caf::anon_send_exit(probe, caf::exit_reason::kill);
  consume_messages();
  CAF_CHECK_EQUAL(exited, (exits{"probe amsterdam"}));
  CAF_CHECK(failures.empty());
  test::pass_time(*this, 2001ms);
  CAF_CHECK_EQUAL(exited, (exits{"probe amsterdam", "peer moscow"}));
  CAF_CHECK_EQUAL(failures.size(), 1u);
  caf::anon_send_exit(leader, caf::exit_reason::kill);
  consume_messages();
}

CAF_TEST(the health round names the members that do not answer within its bound) {
  join("peer", "moscow");
  auto wedged = std::make_shared<member_log>();
  wedged->answering = false;
  join("leader", "bot", wedged);
  auto report = health(100ms, 99ms);
  CAF_CHECK(!report);
  report = health(100ms, 101ms);
  CAF_REQUIRE(report);
  CAF_CHECK_EQUAL(report->members, 2u);
  CAF_CHECK_EQUAL(report->silent,
                  (std::vector<std::string>{"leader bot: system_error(request_timeout)"}));
  CAF_CHECK(report->failure.empty());
  wedged->answering = true;
  report = health(100ms, 1ms);
  CAF_REQUIRE(report);
  CAF_CHECK(report->silent.empty());
  CAF_CHECK(failures.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
