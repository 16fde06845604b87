#define CAF_SUITE runtime.metrics
#include "caf/test/dsl.hpp"

#include "actors/breather.hpp"
#include "runtime/metrics.hpp"
#include "support/files.hpp"

#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace montana;

namespace {

/// A node holding `bot` with one peer dead and some breaths behind it.
node_status sample() {
  node_status s;
  s.node = "amsterdam";
  s.version = "0.1.0";
  s.started_us = 1'000'000;
  s.now_us = 61'000'000;
  duty_status d;
  d.duty = "bot";
  d.role = duty_role::holder;
  d.term = 7;
  d.role_since_us = 31'000'000;
  d.takeovers = 2;
  d.role_changes = 5;
  d.process.pid = 4242;
  d.process.starts = 3;
  d.process.restarts = 1;
  s.duties.push_back(d);
  probe_status p;
  p.node = "mos\"cow\\"; // escaping: a name the configuration would refuse, for the format only
  p.value = verdict::dead;
  p.rounds = 10;
  p.failures = 4;
  s.peers.push_back(p);
  link_status l;
  l.node = "moscow";
  l.links = 3;
  s.links.push_back(l);
  s.breath.enabled = true;
  s.breath.breaths = 4;
  s.breath.failures = 1;
  s.breath.buckets = std::vector<uint64_t>(breath_buckets_ms.size() + 1, 0);
  s.breath.buckets[1] = 2;     // <= 10 ms
  s.breath.buckets[5] = 1;     // <= 250 ms
  s.breath.buckets.back() = 1; // over a minute
  s.breath.total_us = 61'300'000;
  s.breath.last_ok_us = 59'000'000;
  s.breath.handovers = 3;
  s.breath.handover_failures = 1;
  s.breath.broken = 2;
  s.tls_refusals = 9;
  return s;
}

std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] != '#')
      out[line.substr(0, line.rfind(' '))] = line.substr(line.rfind(' ') + 1);
  return out;
}

} // namespace

CAF_TEST(every line is a comment or a sample of an announced family) {
  auto text = render_metrics(sample());
  std::regex sample_line{
      R"(^[a-z_]+(\{[a-z_]+="([^"\\]|\\.)*"(,[a-z_]+="([^"\\]|\\.)*")*\})? \S+$)"};
  std::regex help{R"(^# HELP [a-z_]+ .+$)"};
  std::regex type{R"(^# TYPE [a-z_]+ (gauge|counter|histogram)$)"};
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);)
    CAF_CHECK(std::regex_match(line, help) || std::regex_match(line, type) ||
              std::regex_match(line, sample_line));
  CAF_CHECK(text.ends_with("\n"));
}

CAF_TEST(roles verdicts counters and ages come from the status) {
  auto m = samples(render_metrics(sample()));
  CAF_CHECK_EQUAL(m["montana_duty_role{duty=\"bot\",role=\"holder\"}"], "1");
  CAF_CHECK_EQUAL(m["montana_duty_role{duty=\"bot\",role=\"standby\"}"], "0");
  CAF_CHECK_EQUAL(m["montana_duty_term{duty=\"bot\"}"], "7");
  CAF_CHECK_EQUAL(m["montana_duty_failovers_total{duty=\"bot\"}"], "2");
  CAF_CHECK_EQUAL(m["montana_duty_seconds_since_role_change{duty=\"bot\"}"], "30");
  CAF_CHECK_EQUAL(m["montana_duty_restarts_total{duty=\"bot\"}"], "1");
  CAF_CHECK_EQUAL(m["montana_duty_process_running{duty=\"bot\"}"], "1");
  CAF_CHECK_EQUAL(m["montana_peer_verdict{peer=\"mos\\\"cow\\\\\",verdict=\"dead\"}"], "1");
  CAF_CHECK_EQUAL(m["montana_peer_verdict{peer=\"mos\\\"cow\\\\\",verdict=\"alive\"}"], "0");
  CAF_CHECK_EQUAL(m["montana_peer_links_total{peer=\"moscow\"}"], "3");
  CAF_CHECK_EQUAL(m["montana_tls_refusals_total"], "9");
  CAF_CHECK_EQUAL(m["montana_node_uptime_seconds"], "60");
}

CAF_TEST(the breath histogram is cumulative and ends in inf) {
  auto m = samples(render_metrics(sample()));
  CAF_CHECK_EQUAL(m["montana_breath_duration_seconds_bucket{le=\"0.005\"}"], "0");
  CAF_CHECK_EQUAL(m["montana_breath_duration_seconds_bucket{le=\"0.01\"}"], "2");
  CAF_CHECK_EQUAL(m["montana_breath_duration_seconds_bucket{le=\"0.25\"}"], "3");
  CAF_CHECK_EQUAL(m["montana_breath_duration_seconds_bucket{le=\"60\"}"], "3");
  CAF_CHECK_EQUAL(m["montana_breath_duration_seconds_bucket{le=\"+Inf\"}"], "4");
  CAF_CHECK_EQUAL(m["montana_breath_duration_seconds_count"], "4");
  CAF_CHECK_EQUAL(m["montana_breath_duration_seconds_sum"], "61.3");
  CAF_CHECK_EQUAL(m["montana_breath_failures_total"], "1");
  CAF_CHECK_EQUAL(m["montana_breath_handovers_total"], "3");
  CAF_CHECK_EQUAL(m["montana_breath_handover_failures_total"], "1");
  CAF_CHECK_EQUAL(m["montana_breath_broken_total"], "2");
  CAF_CHECK_EQUAL(m["montana_breath_last_success_timestamp_seconds"], "59");
  // Without a breather there is no breath family at all.
  auto quiet = sample();
  quiet.breath = {};
  CAF_CHECK(render_metrics(quiet).find("montana_breath") == std::string::npos);
}

CAF_TEST(every metric the shipped alert rules and dashboard name is one a node serves) {
  // The series names a scrape of sample() yields: a histogram's come with suffixes.
  std::set<std::string> served;
  std::istringstream lines{render_metrics(sample())};
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] != '#')
      served.insert(line.substr(0, line.find_first_of("{ ")));
  CAF_CHECK(served.count("montana_breath_duration_seconds_bucket") == 1);
  std::regex metric{"montana_[a-z_]+"};
  for (const auto* file :
       {"/deploy/monitoring/montana-alerts.yml", "/deploy/monitoring/montana-alerts.test.yml",
        "/deploy/monitoring/montana-dashboard.json"}) {
    auto text = montana::testing::read_file(MONTANA_SOURCE_DIR + std::string{file});
    CAF_REQUIRE(!text.empty());
    size_t named = 0;
    for (std::sregex_iterator i{text.begin(), text.end(), metric}, end; i != end; ++i) {
      ++named;
      if (served.count(i->str()) == 0)
        CAF_ERROR(file << " names " << i->str() << ", which no node serves");
    }
    CAF_MESSAGE(file << ": " << named << " metric names");
    CAF_CHECK(named > 5);
  }
}
