#define CAF_SUITE runtime.shell_render
#include "caf/test/dsl.hpp"

#include "runtime/shell_render.hpp"
#include "support/files.hpp"

#include <sstream>

using namespace montana;
using montana::testing::widest_line;

namespace {

const std::vector<std::string> five{"amsterdam", "moscow", "almaty", "spb", "novosibirsk"};
constexpr int64_t now = 1'800'000'000'000'000;

/// `self`'s status with the given role for `bot`, and its verdicts on the other four.
node_status status_of(const std::string& self, duty_role role,
                      const std::map<std::string, verdict>& verdicts = {}) {
  node_status s;
  s.node = self;
  s.version = "0.1.0";
  s.started_us = now - 3'600'000'000;
  s.now_us = now;
  duty_status d;
  d.duty = "bot";
  d.role = role;
  d.term = 3;
  d.reason = "a reason long enough to need cutting, so that the line stays inside eighty columns";
  d.role_since_us = now - 60'000'000;
  for (const auto& n : five) {
    auto v = verdicts.count(n) ? verdicts.at(n) : verdict::alive;
    d.chain.push_back(chain_member{n, n == self ? verdict::alive : v, false});
    if (n == self)
      continue;
    probe_status p;
    p.node = n;
    p.value = v;
    p.reason = "ping: system_error(request_timeout) and some more words to cut off at the end";
    p.since_us = now - 5'000'000;
    for (int i = 0; i < 32; ++i)
      p.history.push_back(probe_sample{now - i * 1'000'000, i % 7 != 0, 850, v, p.reason});
    s.peers.push_back(p);
    link_status l;
    l.node = n;
    l.linked = v != verdict::dead;
    s.links.push_back(l);
  }
  d.process.phase = role == duty_role::holder ? "running" : "idle";
  d.process.pid = role == duty_role::holder ? 4242 : 0;
  d.process.started_us = d.process.pid != 0 ? now - 60'000'000 : 0;
  d.process.output = {std::string(200, 'x'), "polling"};
  s.duties.push_back(d);
  return s;
}

std::vector<node_view> views(std::vector<node_status> statuses) {
  std::vector<node_view> out;
  for (auto& s : statuses) {
    node_view v;
    v.node = s.node;
    v.reachable = true;
    v.status = std::move(s);
    out.push_back(std::move(v));
  }
  return out;
}

} // namespace

CAF_TEST(every plain answer fits eighty columns) {
  text_style st{false, now};
  auto s = status_of("amsterdam", duty_role::holder, {{"spb", verdict::dead}});
  auto cluster =
      views({s, status_of("moscow", duty_role::standby), status_of("almaty", duty_role::standby),
             status_of("spb", duty_role::standby), status_of("novosibirsk", duty_role::standby)});
  cluster[3].reachable = false;
  cluster[3].error = "no link, and an error text that goes on and on well beyond the edge of it";
  actor_info a;
  a.name = "novosibirsk leader a-very-long-duty-name-indeed";
  a.kind = "chain-leader";
  a.id = 12345;
  a.handled = 123456789;
  a.state = {{"role", std::string(120, 'r')}};
  breath_report b;
  b.seq = 7;
  b.ok = true;
  for (const auto& text :
       {render_status(s, st), render_cluster(cluster, st), render_chain(s, cluster, "", st),
        render_probes(s.peers, "", st), render_probes(s.peers, "moscow", st),
        render_actors({a}, st), render_actor(a, st), render_duties(s, st)}) {
    CAF_CHECK_LESS_OR_EQUAL(widest_line(text), 80u);
    if (widest_line(text) > 80)
      CAF_MESSAGE(text);
  }
  CAF_CHECK(render_status(s, st).find("\x1b[") == std::string::npos);
  CAF_CHECK(render_status(s, text_style{true, now}).find("\x1b[") != std::string::npos);
}

CAF_TEST(cluster marks two holders and disputed verdicts) {
  text_style st{false, now};
  auto one = render_cluster(
      views({status_of("amsterdam", duty_role::holder), status_of("moscow", duty_role::standby)}),
      st);
  CAF_CHECK(one.find("duty bot: held by amsterdam") != std::string::npos);
  CAF_CHECK(one.find("!") == std::string::npos);
  // A partition: moscow thinks amsterdam dead and runs the duty too.
  auto split =
      render_cluster(views({status_of("amsterdam", duty_role::holder, {{"moscow", verdict::dead}}),
                            status_of("moscow", duty_role::holder, {{"amsterdam", verdict::dead}}),
                            status_of("almaty", duty_role::standby)}),
                     st);
  CAF_CHECK(split.find("! duty bot: 2 holders: amsterdam, moscow") != std::string::npos);
  CAF_CHECK(split.find("! amsterdam: alive for almaty; dead for moscow") != std::string::npos);
  CAF_CHECK(split.find("! moscow: alive for almaty; dead for amsterdam") != std::string::npos);
  CAF_CHECK(split.find("D!") != std::string::npos);
}

CAF_TEST(chain names the expected holder past dead and stepped down nodes) {
  text_style st{false, now};
  auto s = status_of("spb", duty_role::standby, {{"amsterdam", verdict::dead}});
  s.duties[0].chain[1].stepped_down = true; // moscow
  auto text = render_chain(s, views({s}), "bot", st);
  CAF_CHECK(text.find("expected holder: almaty") != std::string::npos);
  CAF_CHECK(text.find("alive, stepped down") != std::string::npos);
  CAF_CHECK(render_chain(s, {}, "mail", st).find("no part in duty 'mail'") != std::string::npos);
}

CAF_TEST(ages read like durations) {
  CAF_CHECK_EQUAL(age(0), "0s");
  CAF_CHECK_EQUAL(age(59'999'999), "59s");
  CAF_CHECK_EQUAL(age(192'000'000), "3m12s");
  CAF_CHECK_EQUAL(age(7'500'000'000), "2h05m");
  CAF_CHECK_EQUAL(age(97'200'000'000), "1d03h");
  CAF_CHECK_EQUAL(age(-5), "0s");
}
