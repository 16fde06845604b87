// The monitoring shipped in deploy/monitoring: the Prometheus alert rules pass `promtool check
// rules` and their unit tests (`promtool test rules`), and every query of the Grafana dashboard
// parses as PromQL. That their metric names are ones a node serves: runtime.metrics.
#define CAF_SUITE deploy.monitoring
#include "caf/test/dsl.hpp"

#include "support/guard.hpp"
#include "support/process.hpp"

#include <nlohmann/json.hpp>

#include <set>

using namespace montana::testing;

namespace {

const std::string monitoring = MONTANA_SOURCE_DIR "/deploy/monitoring";

struct fixture : scratch {
  fixture() : scratch{"monitoring"} {}

  /// promtool's path; fails the test when it is not installed.
  std::string promtool() {
    auto tool = find_tool("promtool");
    if (tool.empty())
      CAF_ERROR("no promtool on PATH: deploy/install-deps.sh installs it from Debian's "
                "prometheus package");
    return tool;
  }

  /// Runs promtool with `args`; checks that it exits 0, else prints what it said.
  void check_promtool(std::vector<std::string> args) {
    auto tool = promtool();
    if (tool.empty())
      return;
    args.insert(args.begin(), tool);
    auto out = path("promtool.out");
    auto code = run_tool(args, out);
    CAF_CHECK_EQUAL(code, 0);
    if (code != 0)
      CAF_MESSAGE(read_file(out));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(monitoring_tests, fixture)

CAF_TEST(the alert rules pass promtool check) {
  check_promtool({"check", "rules", monitoring + "/montana-alerts.yml"});
}

CAF_TEST(the alert rules pass their unit tests) {
  // promtool finds the rule file next to the tests.
  check_promtool({"test", "rules", monitoring + "/montana-alerts.test.yml"});
}

CAF_TEST(a broken rule fails the check) {
  // The check above can fail: the same rules with one query broken do not pass.
  auto rules = read_file(monitoring + "/montana-alerts.yml");
  auto at = rules.find("sum by (duty)");
  GUARD_REQUIRE(at != std::string::npos);
  rules.replace(at, 3, "sum(");
  auto broken = write("broken.yml", rules);
  auto tool = promtool();
  if (!tool.empty())
    CAF_CHECK_NOT_EQUAL(run_tool({tool, "check", "rules", broken}, path("out")), 0);
}

CAF_TEST(every dashboard query parses as PromQL) {
  auto dashboard = nlohmann::json::parse(read_file(monitoring + "/montana-dashboard.json"));
  CAF_CHECK_EQUAL(dashboard["uid"], "montana-actors");
  // Each query becomes a recording rule of a file promtool checks.
  std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
  std::set<int> ids;
  size_t queries = 0;
  for (const auto& panel : dashboard["panels"]) {
    CAF_CHECK(ids.insert(panel["id"].get<int>()).second);
    CAF_CHECK(!panel["targets"].empty());
    for (const auto& target : panel["targets"]) {
      rules += "      - record: dashboard_query_" + std::to_string(++queries) +
               "\n        expr: " + nlohmann::json(target["expr"].get<std::string>()).dump() + "\n";
    }
  }
  CAF_MESSAGE(ids.size() << " panels, " << queries << " queries");
  CAF_CHECK(queries > 10);
  check_promtool({"check", "rules", write("dashboard.yml", rules)});
}

CAF_TEST_FIXTURE_SCOPE_END()
