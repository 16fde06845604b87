#define CAF_SUITE messages.wire
#include "caf/test/dsl.hpp"

#include "messages/wire.hpp"

#include <string>

using namespace montana;
using namespace montana::wire;

namespace {

/// The body of encode(f): the frame without its length prefix.
std::string body_of(const frame& f) {
  auto bytes = encode(f);
  std::array<unsigned char, header_size> header{};
  std::copy_n(bytes.begin(), header_size, header.begin());
  CAF_CHECK_EQUAL(body_length(header), bytes.size() - header_size);
  return bytes.substr(header_size);
}

template <class T>
T round_trip(const T& x, uint64_t id = 0, uint64_t re = 0) {
  auto got = decode(body_of(frame{x, id, re}), "moscow");
  CAF_REQUIRE(got.result == outcome::ok);
  CAF_CHECK_EQUAL(got.value.id, id);
  CAF_CHECK_EQUAL(got.value.re, re);
  CAF_REQUIRE(std::holds_alternative<T>(got.value.body));
  return std::get<T>(got.value.body);
}

outcome outcome_of(const std::string& body) {
  return decode(body, "moscow").result;
}

} // namespace

CAF_TEST(every message survives the wire and its sender is the node of its link) {
  auto h = round_trip(hello{current, "moscow", 0xfedcba9876543210});
  CAF_CHECK(h.ver == current);
  CAF_CHECK_EQUAL(h.incarnation, 0xfedcba9876543210u);
  CAF_CHECK_EQUAL(round_trip(ping{"whoever", 7}, 3).from, "moscow");
  CAF_CHECK_EQUAL(round_trip(pong{"whoever", 7}, 0, 3).node, "moscow");
  auto c = round_trip(claim{"bot", "amsterdam", 42});
  CAF_CHECK_EQUAL(c.duty, "bot");
  CAF_CHECK_EQUAL(c.term, 42u);
  // The wire carries no sender: a node can only speak for itself.
  CAF_CHECK_EQUAL(c.from, "moscow");
  auto r = round_trip(released{"bot", "amsterdam", 4, 9});
  CAF_CHECK_EQUAL(r.highest, 9u);
  CAF_CHECK_EQUAL(round_trip(refused{"bot", "x", 4, 5}).term, 4u);
  CAF_CHECK_EQUAL(round_trip(stepped_down{"bot", "x"}).from, "moscow");
  CAF_CHECK_EQUAL(round_trip(resumed{"bot", "x"}).duty, "bot");
  CAF_CHECK_EQUAL(round_trip(status_query{"x"}, 5).from, "moscow");
  node_status s;
  s.node = "moscow";
  s.version = "0.1.0";
  s.incarnation = 77;
  duty_status d;
  d.duty = "bot";
  d.role = duty_role::holder;
  d.term = 3;
  d.chain = {chain_member{"amsterdam", verdict::dead, false}};
  s.duties.push_back(d);
  auto back = round_trip(status{s}, 0, 5).value;
  CAF_CHECK_EQUAL(back.node, "moscow");
  CAF_CHECK_EQUAL(back.incarnation, 77u);
  CAF_REQUIRE_EQUAL(back.duties.size(), 1u);
  CAF_CHECK(back.duties[0].role == duty_role::holder);
  CAF_CHECK(back.duties[0].chain.at(0).value == verdict::dead);
  CAF_CHECK_EQUAL(round_trip(failure{"no"}, 0, 5).error, "no");
  round_trip(heartbeat{});
}

CAF_TEST(the indirect probe and the duty state of 1.1 survive the wire) {
  CAF_CHECK(current == (version{1, 1}));
  auto q = round_trip(probe_req{"whoever", "amsterdam"}, 8);
  CAF_CHECK_EQUAL(q.from, "moscow");
  CAF_CHECK_EQUAL(q.target, "amsterdam");
  auto a = round_trip(probe_ack{"whoever", "amsterdam", true}, 0, 8);
  CAF_CHECK_EQUAL(a.node, "moscow");
  CAF_CHECK_EQUAL(a.target, "amsterdam");
  CAF_CHECK(a.alive);
  CAF_CHECK(!round_trip(probe_ack{"x", "spb", false}, 0, 9).alive);
  for (auto role :
       {duty_role::standby, duty_role::claiming, duty_role::holder, duty_role::releasing}) {
    auto d = round_trip(duty_state{"bot", "whoever", role, 12});
    CAF_CHECK_EQUAL(d.from, "moscow");
    CAF_CHECK_EQUAL(d.duty, "bot");
    CAF_CHECK(d.role == role);
    CAF_CHECK_EQUAL(d.term, 12u);
  }
}

CAF_TEST(a relay names its receiver and a relayed message its origin) {
  for (auto kind : {relay_kind::claim, relay_kind::released, relay_kind::refused}) {
    // Sent by moscow to the node in the middle: its origin is moscow, whatever it says.
    auto r = round_trip(relay{"amsterdam", "spb", kind, "bot", 7, 9});
    CAF_CHECK_EQUAL(r.to, "amsterdam");
    CAF_CHECK_EQUAL(r.origin, "moscow");
    CAF_CHECK(r.kind == kind);
    CAF_CHECK_EQUAL(r.duty, "bot");
    CAF_CHECK_EQUAL(r.term, 7u);
    CAF_CHECK_EQUAL(r.highest, 9u);
    // Passed on by moscow: moscow is the one that vouches for the origin.
    auto d = round_trip(relayed{"x", "spb", kind, "bot", 7, 9});
    CAF_CHECK_EQUAL(d.via, "moscow");
    CAF_CHECK_EQUAL(d.origin, "spb");
    CAF_CHECK(d.kind == kind);
    CAF_CHECK_EQUAL(d.term, 7u);
    CAF_CHECK_EQUAL(d.highest, 9u);
  }
}

CAF_TEST(a malformed indirect probe duty state or relay is refused) {
  for (const auto* body : {
           R"({"t":"probe_req","id":1})",
           R"({"t":"probe_req","target":"a b","id":1})",
           R"({"t":"probe_ack","target":"amsterdam","alive":1,"re":1})",
           R"({"t":"probe_ack","target":"amsterdam","re":1})",
           R"({"t":"duty_state","duty":"bot","role":"king","term":1})",
           R"({"t":"duty_state","duty":"bot","role":2,"term":1})",
           R"({"t":"duty_state","duty":"bot","role":"holder","term":-1})",
           R"({"t":"duty_state","role":"holder","term":1})",
           R"({"t":"relay","to":"spb","kind":"ping","duty":"bot","term":1,"highest":0})",
           R"({"t":"relay","kind":"claim","duty":"bot","term":1,"highest":0})",
           R"({"t":"relay","to":"spb","kind":"claim","duty":"bot","term":1})",
           R"({"t":"relayed","origin":"../x","kind":"claim","duty":"bot","term":1,"highest":0})",
           R"({"t":"relayed","kind":"released","duty":"bot","term":1,"highest":0})",
       })
    CAF_CHECK(outcome_of(body) == outcome::malformed);
}

CAF_TEST(a claim naming another sender is still a claim of the node of its link) {
  auto got = decode(R"({"t":"claim","duty":"bot","term":5,"from":"amsterdam"})", "novosibirsk");
  CAF_REQUIRE(got.result == outcome::ok);
  CAF_CHECK_EQUAL(std::get<claim>(got.value.body).from, "novosibirsk");
}

CAF_TEST(a type this version does not know is not an error of the link) {
  CAF_CHECK(outcome_of(R"({"t":"roles","duties":[]})") == outcome::unknown_type);
  // Internal messages have no wire form at all: they are unknown types, never decoded.
  CAF_CHECK(outcome_of(R"({"t":"verdict_changed","node":"amsterdam","value":3})") ==
            outcome::unknown_type);
  CAF_CHECK(outcome_of(R"({"t":"duty_update","command":["/bin/sh","-c","id"]})") ==
            outcome::unknown_type);
}

CAF_TEST(anything malformed is refused with one printable line) {
  for (
      const auto* body : {
          "",
          "null",
          "[]",
          "{}",
          "{\"t\":1}",
          "not json",
          "{\"t\":\"claim\"}",
          R"({"t":"claim","duty":"bot","term":-1})",
          R"({"t":"claim","duty":"bot","term":1.5})",
          R"({"t":"claim","duty":"bot","term":"1"})",
          R"({"t":"claim","duty":"a b","term":1})",
          R"({"t":"ping","seq":1,"id":-4})",
          R"({"t":"hello","protocol":"basp","major":1,"minor":0,"node":"x","incarnation":1})",
          R"({"t":"hello","protocol":"montana","major":99999999999,"minor":0,"node":"x","incarnation":1})",
          R"({"t":"status","status":{"node":"x"}})",
          R"({"t":"claim","duty":"bot","term":1} trailing)",
      }) {
    auto got = decode(body, "moscow");
    CAF_CHECK(got.result == outcome::malformed);
    CAF_CHECK(!got.problem.empty());
  }
  // Raw bytes never reach a log line as they are.
  auto got = decode(std::string{"\xff\xfe\x01{"}, "moscow");
  CAF_CHECK(got.result == outcome::malformed);
  for (auto c : got.problem)
    CAF_CHECK(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f);
  auto long_name = std::string(max_name + 1, 'a');
  CAF_CHECK(outcome_of(R"({"t":"claim","term":1,"duty":")" + long_name + "\"}") ==
            outcome::malformed);
}

CAF_TEST(versions link only within one major) {
  CAF_CHECK(compatible({1, 0}, {1, 7}));
  CAF_CHECK(!compatible({1, 0}, {2, 0}));
  CAF_CHECK_EQUAL(to_string(version{2, 3}), "2.3");
}

CAF_TEST(printable shows control and non - ascii bytes as escapes and cuts long text) {
  CAF_CHECK_EQUAL(printable("a\nb\xff"), "a\\x0ab\\xff");
  CAF_CHECK_EQUAL(printable(std::string(300, 'x'), 10), "xxxxxxxxxx...");
}
