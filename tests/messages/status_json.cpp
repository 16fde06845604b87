#define CAF_SUITE messages.status_json
#include "caf/test/dsl.hpp"

#include "messages/status_json.hpp"

using namespace montana;

namespace {

node_status sample() {
  node_status s;
  s.node = "almaty";
  s.version = "0.1.0";
  s.incarnation = 0x0123456789abcdef;
  s.started_us = 1'700'000'000'123'000;
  s.now_us = 1'700'000'100'456'000;
  s.links = {link_status{"amsterdam", true, false, 1'700'000'050'000'000, 2, ""}};
  probe_status p;
  p.node = "amsterdam";
  p.value = verdict::suspect;
  p.reason = "ping timeout";
  p.linked = true;
  p.since_us = 1'700'000'060'000'000;
  p.rounds = 12;
  p.failures = 1;
  p.history = {probe_sample{1'700'000'070'000'000, true, 1500, verdict::alive, "pong"}};
  s.peers = {p};
  duty_status d;
  d.duty = "bot";
  d.role = duty_role::releasing;
  d.term = 4;
  d.reason = "amsterdam claims";
  d.role_since_us = 1'700'000'080'000'000;
  d.chain = {chain_member{"amsterdam", verdict::alive, true}};
  d.pending = {"moscow"};
  d.takeovers = 2;
  d.role_changes = 5;
  d.process.phase = "running";
  d.process.pid = 4321;
  d.process.term = 4;
  d.process.output = {"hello"};
  s.duties = {d};
  s.breath.enabled = true;
  s.breath.interval_ms = 12000;
  s.breath.breaths = 3;
  s.breath.buckets = {1, 2, 0};
  s.breath.total_us = 3'500'000;
  s.breath.last.seq = 3;
  s.breath.last.ok = true;
  s.breath.last.total_us = 250'000;
  s.tls_refusals = 9;
  s.version_refusals = 1;
  s.shell_refusals = 2;
  return s;
}

template <class F>
bool throws(F f) {
  try {
    f();
  } catch (const std::exception&) {
    return true;
  }
  return false;
}

} // namespace

CAF_TEST(a node status read back from its document is the same status) {
  auto s = sample();
  auto back = to_json(s).get<node_status>();
  CAF_CHECK_EQUAL(back.node, s.node);
  CAF_CHECK_EQUAL(back.incarnation, s.incarnation);
  CAF_CHECK_EQUAL(back.started_us, s.started_us);
  CAF_CHECK_EQUAL(back.now_us, s.now_us);
  CAF_REQUIRE_EQUAL(back.links.size(), 1u);
  CAF_CHECK_EQUAL(back.links[0].since_us, s.links[0].since_us);
  CAF_REQUIRE_EQUAL(back.peers.size(), 1u);
  CAF_CHECK(back.peers[0].value == verdict::suspect);
  CAF_CHECK_EQUAL(back.peers[0].history.at(0).rtt_us, 1500);
  CAF_REQUIRE_EQUAL(back.duties.size(), 1u);
  CAF_CHECK(back.duties[0].role == duty_role::releasing);
  CAF_CHECK_EQUAL(back.duties[0].pending, std::vector<std::string>{"moscow"});
  CAF_CHECK(back.duties[0].chain.at(0).stepped_down);
  CAF_CHECK_EQUAL(back.duties[0].process.pid, 4321);
  CAF_CHECK_EQUAL(back.breath.buckets, (std::vector<uint64_t>{1, 2, 0}));
  CAF_CHECK_EQUAL(back.breath.total_us, 3'500'000);
  CAF_CHECK_EQUAL(back.breath.last.total_us, 250'000);
  CAF_CHECK_EQUAL(back.tls_refusals, 9u);
  CAF_CHECK_EQUAL(back.version_refusals, 1u);
  CAF_CHECK_EQUAL(back.shell_refusals, 2u);
  // Written again, it is the same document.
  CAF_CHECK_EQUAL(to_json(back).dump(), to_json(s).dump());
}

CAF_TEST(the other documents read back too) {
  node_view v{"spb", false, "no link", {}};
  auto view = to_json(v).get<node_view>();
  CAF_CHECK(!view.reachable);
  CAF_CHECK_EQUAL(view.error, "no link");
  auto e = to_json(node_event{1'700'000'000'001'000, "spb", event_kind::breath, "repo", "ok"})
               .get<node_event>();
  CAF_CHECK(e.kind == event_kind::breath);
  CAF_CHECK_EQUAL(e.at_us, 1'700'000'000'001'000);
  auto a =
      to_json(actor_info{"spb peer", "peer", 3, 10, 1, {{"linked", "none"}}}).get<actor_info>();
  CAF_CHECK_EQUAL(a.state.at(0).value, "none");
  CAF_CHECK(to_json(action_result{true, "done"}).get<action_result>().ok);
  CAF_CHECK_EQUAL(to_json(log_line{5'000, "info", "x"}).get<log_line>().at_us, 5'000);
}

CAF_TEST(a document with the wrong shape is refused) {
  auto doc = to_json(sample());
  doc["duties"][0]["role"] = "emperor";
  CAF_CHECK(throws([&] { (void)doc.get<node_status>(); }));
  doc = to_json(sample());
  doc["started"] = "yesterday";
  CAF_CHECK(throws([&] { (void)doc.get<node_status>(); }));
  doc = to_json(sample());
  doc.erase("links");
  CAF_CHECK(throws([&] { (void)doc.get<node_status>(); }));
  // A key a newer minor version added is ignored.
  doc = to_json(sample());
  doc["future"] = 1;
  CAF_CHECK_EQUAL(doc.get<node_status>().node, "almaty");
}

CAF_TEST(times and incarnations read back exactly) {
  CAF_CHECK_EQUAL(parse_rfc3339(rfc3339(1'765'000'000'123'000)), 1'765'000'000'123'000);
  CAF_CHECK(throws([&] { (void)parse_rfc3339("2026-12-07T10:00:00Z"); }));
  CAF_CHECK_EQUAL(incarnation_text(255), "00000000000000ff");
}
