// A running node takes a new configuration (what `run` does on SIGHUP): probe timings at once,
// a duty's command and environment for its next process; the duty stays where it is.
#define CAF_SUITE integration.reload
#include "caf/test/dsl.hpp"

#include "support/cluster.hpp"
#include "support/files.hpp"

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

std::string field(const actor_info& info, const std::string& key) {
  for (const auto& f : info.state)
    if (f.key == key)
      return f.value;
  return {};
}

/// The duty's process on `n` as its supervisor reports it.
process_status process_of(node& n) {
  process_status out;
  caf::scoped_actor self{n.system()};
  self->request(n.leaders().at("bot"), 5s, status_atom::value)
      .receive([&](duty_status& x) { out = std::move(x.process); }, [](caf::error&) {});
  return out;
}

} // namespace

CAF_TEST(a reload applies probe timings and the duty environment without moving the duty) {
  cluster c{profile::test, [](config& cfg) {
              auto& duty = cfg.duties.at(0);
              duty.command = {"/bin/sh", "-c",
                              std::string{"echo \"greeting=$GREETING\"; exec "} +
                                  MONTANA_RECORDER_PATH};
              duty.env["GREETING"] = "hello";
            }};
  c.start_all();
  CAF_REQUIRE(c.wait_for_holder("amsterdam", 15s));
  auto& amsterdam = c.at("amsterdam");
  CAF_CHECK(wait_until(
      [&] {
        auto out = process_of(amsterdam).output;
        return std::find(out.begin(), out.end(), "greeting=hello") != out.end();
      },
      5s));
  auto fresh = c.cfg();
  fresh.probe.interval = duration{350};
  fresh.probe.rise = 4;
  fresh.duties[0].env["GREETING"] = "bonjour";
  auto applied = amsterdam.reload(fresh);
  CAF_CHECK_EQUAL(applied,
                  (std::vector<std::string>{"probe timings", "duty bot (its next process)"}));
  // The probes use the new timings at once.
  {
    caf::scoped_actor self{amsterdam.system()};
    self->request(amsterdam.inspector(), 5s, actors_atom::value)
        .receive(
            [&](std::vector<actor_info>& all) {
              for (const auto& a : all)
                if (a.name == "amsterdam probe moscow")
                  CAF_CHECK(contains(field(a, "checks"), "every 350 ms"));
            },
            [](caf::error&) {});
  }
  // The running process keeps its environment; the next one gets the new one.
  CAF_CHECK_EQUAL(c.running(), std::vector<std::string>{"amsterdam"});
  {
    caf::scoped_actor self{amsterdam.system()};
    self->request(amsterdam.leaders().at("bot"), 5s, restart_atom::value, std::string{"test"})
        .receive([](const action_result&) {}, [](caf::error&) {});
  }
  CAF_CHECK(wait_until(
      [&] {
        auto out = process_of(amsterdam).output;
        return std::find(out.begin(), out.end(), "greeting=bonjour") != out.end();
      },
      10s));
  CAF_CHECK(c.wait_for_holder("amsterdam", 10s));
  CAF_CHECK_EQUAL(c.max_overlap(), 1);
  // Nothing left to apply a second time.
  CAF_CHECK_EQUAL(amsterdam.reload(fresh), std::vector<std::string>{});
}
