#define CAF_SUITE actors.json_scan
#include "caf/test/dsl.hpp"

#include "actors/json_scan.hpp"

#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

using namespace montana;

// The checker the breather refuses broken synced files with, and the key index the merge runs
// on: strict JSON, one entry per top-level member, digests that ignore spacing.

namespace {

std::vector<std::string> keys(const json_scan& scan) {
  std::vector<std::string> out;
  for (const auto& m : scan.members)
    out.push_back(m.key);
  return out;
}

} // namespace

CAF_TEST(an object is indexed by its top level members with values as written) {
  auto scan = scan_json(R"( {"1": {"first_name": "ann", "history": [1, 2]}, "2" : null,
                             "3":"x"} )");
  CAF_REQUIRE(scan.kind == json_scan::shape::object);
  CAF_CHECK_EQUAL(keys(scan), (std::vector<std::string>{"1", "2", "3"}));
  CAF_CHECK_EQUAL(scan.members[0].raw_key, "\"1\"");
  CAF_CHECK_EQUAL(scan.members[0].value, R"({"first_name": "ann", "history": [1, 2]})");
  CAF_CHECK_EQUAL(scan.members[1].value, "null");
  CAF_CHECK_EQUAL(scan.members[2].value, "\"x\"");
}

CAF_TEST(digests ignore spacing outside strings and see every other change) {
  auto a = scan_json(R"({"k": {"a": [1, 2], "b": "x y"}})");
  auto b = scan_json("{\"k\":{\n  \"a\":[1,2],\n  \"b\":\"x y\"\n}}");
  auto c = scan_json(R"({"k": {"a": [1, 2], "b": "x  y"}})");
  auto d = scan_json(R"({"k": {"a": [1, 3], "b": "x y"}})");
  CAF_REQUIRE(a.valid() && b.valid() && c.valid() && d.valid());
  CAF_CHECK_EQUAL(a.members[0].digest, b.members[0].digest);
  CAF_CHECK_NOT_EQUAL(a.members[0].digest, c.members[0].digest);
  CAF_CHECK_NOT_EQUAL(a.members[0].digest, d.members[0].digest);
}

CAF_TEST(keys with escapes are decoded) {
  auto scan = scan_json(R"({"caf\u00e9": 1, "a\"b\\c\n": 2, "\ud83d\ude00": 3})");
  CAF_REQUIRE(scan.valid());
  CAF_CHECK_EQUAL(keys(scan),
                  (std::vector<std::string>{"caf\xc3\xa9", "a\"b\\c\n", "\xf0\x9f\x98\x80"}));
  CAF_CHECK_EQUAL(scan.members[0].raw_key, R"("caf\u00e9")");
}

CAF_TEST(values that are not objects are valid but not indexed) {
  for (std::string text : {"[1, {\"a\": 2}]", " 42 ", "\"s\"", "null", "-0.5e+3", "{}"}) {
    auto scan = scan_json(text);
    CAF_CHECK(scan.valid());
    CAF_CHECK(scan.members.empty());
  }
  CAF_CHECK(scan_json("[1]").kind == json_scan::shape::other);
  CAF_CHECK(scan_json("{}").kind == json_scan::shape::object);
}

CAF_TEST(broken text is refused with where and why) {
  auto truncated = scan_json("{\"a\": 1,");
  CAF_CHECK(!truncated.valid());
  CAF_CHECK_EQUAL(truncated.error, "line 1 column 9: unexpected end of text");
  auto second_line = scan_json("{\"a\": 1,\n  \"b\" 2}");
  CAF_CHECK_EQUAL(second_line.error, "line 2 column 7: expected ':'");
  CAF_CHECK_EQUAL(scan_json("").error, "line 1 column 1: empty text");
  for (std::string text : {"{\"a\": 1,}",
                           "{'a': 1}",
                           "[1, 2",
                           "{\"a\": 01}",
                           "{\"a\": 1.}",
                           "{\"a\": -}",
                           "{\"a\": NaN}",
                           "{\"a\": tru}",
                           "{\"a\": 1} x",
                           "{} {}",
                           "{\"a\": \"\x01\"}",
                           "{\"a\": \"\xff\"}",
                           "{\"a\": \"\xc0\xaf\"}",
                           "{\"a\": \"\xed\xa0\x80\"}",
                           "{\"a\": \"\\ud800\"}",
                           "{\"a\": \"\\udc00\\ud800\"}",
                           "{\"a\": \"\\x\"}",
                           "{\"a\": 1 // c\n}",
                           "{\"a\"}",
                           "{1: 2}"}) {
    CAF_MESSAGE(text);
    CAF_CHECK(!scan_json(text).valid());
  }
}

CAF_TEST(nesting deeper than the limit is refused without recursion) {
  std::string deep = std::string(json_max_depth + 10, '[') + std::string(json_max_depth + 10, ']');
  CAF_CHECK_EQUAL(scan_json(deep).error.find("nested too deeply") != std::string::npos, true);
  std::string fine = std::string(100, '[') + std::string(100, ']');
  CAF_CHECK(scan_json(fine).valid());
  std::string huge = std::string(1000000, '[');
  CAF_CHECK(!scan_json(huge).valid());
}

CAF_TEST(the checker agrees with nlohmann on mutated documents) {
  const std::string seed = R"({"1": {"first_name": "Ann\u00e9", "username": "ann_tg",
    "history": [{"role": "user", "content": "hi \"there\""}, {"role": "assistant",
    "content": "caf\u00e9 \ud83d\ude00"}], "approved": true, "pending_approval": false,
    "score": -12.5e-3, "none": null}, "2": [], "3": {}})";
  CAF_REQUIRE(scan_json(seed).valid());
  std::mt19937 rng{1213};
  const std::string alphabet = "{}[]\",:\\ 0123456789.eE+-tfnulrsa\xc3\xa9\xff\n";
  int valid = 0;
  for (int round = 0; round < 5000; ++round) {
    auto text = seed;
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0; --edits) {
      auto at = rng() % text.size();
      switch (rng() % 3) {
      case 0:
        text.erase(at, 1 + rng() % 3);
        break;
      case 1:
        text.insert(at, 1, alphabet[rng() % alphabet.size()]);
        break;
      default:
        text[at] = alphabet[rng() % alphabet.size()];
      }
      if (text.empty())
        text = "{";
    }
    bool ours = scan_json(text).valid();
    bool theirs = nlohmann::json::accept(text);
    if (ours != theirs)
      CAF_FAIL("disagree (scan " << ours << ", nlohmann " << theirs << ") on: " << text);
    valid += ours;
  }
  CAF_MESSAGE(valid << " of 5000 mutations valid");
  CAF_CHECK_GREATER(valid, 100);
}

CAF_TEST(a json path is a file name ending in json) {
  CAF_CHECK(json_path("data/users.json"));
  CAF_CHECK(json_path("node_crypto/nodes.json"));
  CAF_CHECK(!json_path("notes.txt"));
  CAF_CHECK(!json_path("data/users.json.broken-moscow-20261122T004512Z"));
}
