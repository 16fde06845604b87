#define CAF_SUITE actors.json_merge
#include "caf/test/dsl.hpp"

#include "actors/json_merge.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace montana;
using json = nlohmann::json;          // compares objects regardless of key order
using ojson = nlohmann::ordered_json; // keeps key order, for order checks

namespace {

const std::string users = "data/users.json";
const std::string users_copy = "data/users.conflict-moscow-20261122T004512Z.json";

/// A users.json-like entry with a short history.
json user(const std::string& name, std::vector<std::string> said, bool approved = true) {
  json history = json::array();
  for (const auto& s : said)
    history.push_back({{"role", "user"}, {"content", s}});
  return {{"first_name", name},
          {"username", name + "_tg"},
          {"approved", approved},
          {"history", history}};
}

std::optional<std::string> text(const json& j) {
  return j.dump();
}

merge_result merge(std::optional<std::string> base, std::optional<std::string> ours,
                   std::optional<std::string> theirs, const std::string& path = users) {
  return merge_synced_file(merge_input{path, std::move(base), std::move(ours), std::move(theirs),
                                       "moscow", "20261122T004512Z"});
}

/// The result parsed; fails the test if the file was deleted or is not an object.
json result_of(const merge_result& r) {
  CAF_REQUIRE(r.text.has_value());
  auto j = json::parse(*r.text, nullptr, false);
  CAF_REQUIRE(j.is_object());
  return j;
}

/// The conflict copy parsed; fails the test if there is none.
json copy_of(const merge_result& r) {
  CAF_REQUIRE(r.copy.has_value());
  CAF_CHECK_EQUAL(r.copy->path, users_copy);
  auto j = json::parse(r.copy->content, nullptr, false);
  CAF_REQUIRE(j.is_object());
  return j;
}

std::vector<std::string> keys_in_order(const std::string& s) {
  std::vector<std::string> out;
  auto j = ojson::parse(s);
  for (auto it = j.begin(); it != j.end(); ++it)
    out.push_back(it.key());
  return out;
}

using strings = std::vector<std::string>;

/// A possibly absent file as printable text.
std::string opt(const std::optional<std::string>& x) {
  return x ? "[" + *x + "]" : "<absent>";
}

} // namespace

// --- JSON objects ---------------------------------------------------------------------

CAF_TEST(keys added on different sides are both kept without conflict) {
  json base = {{"1", user("ann", {"hi"})}};
  json ours = base, theirs = base;
  ours["2"] = user("bob", {"hello"});
  theirs["3"] = user("cat", {"hey"});
  auto r = merge(text(base), text(ours), text(theirs));
  CAF_CHECK(!r.opaque);
  CAF_CHECK(!r.conflict);
  CAF_CHECK(r.conflicting_keys.empty());
  CAF_CHECK(!r.copy);
  auto j = result_of(r);
  CAF_CHECK_EQUAL(j.dump(), json({{"1", base["1"]}, {"2", ours["2"]}, {"3", theirs["3"]}}).dump());
  // theirs' order first, then keys only ours has
  CAF_CHECK_EQUAL(keys_in_order(*r.text), (strings{"1", "3", "2"}));
}

CAF_TEST(a key changed on one side only takes that side) {
  json base = {{"1", user("ann", {"hi"})}, {"2", user("bob", {"yo"})}};
  json ours = base, theirs = base;
  ours["1"]["history"].push_back({{"role", "assistant"}, {"content", "welcome"}});
  theirs["2"]["approved"] = false;
  auto r = merge(text(base), text(ours), text(theirs));
  CAF_CHECK(!r.conflict);
  CAF_CHECK(!r.copy);
  auto j = result_of(r);
  CAF_CHECK_EQUAL(j["1"].dump(), ours["1"].dump());
  CAF_CHECK_EQUAL(j["2"].dump(), theirs["2"].dump());
}

CAF_TEST(the same edit on both sides is no conflict) {
  json base = {{"1", user("ann", {"hi"})}};
  json both = base;
  both["1"]["pending_approval"] = true;
  auto r = merge(text(base), text(both), both.dump(4));
  CAF_CHECK(!r.conflict);
  CAF_CHECK(!r.copy);
  CAF_CHECK_EQUAL(result_of(r).dump(), both.dump());
}

CAF_TEST(same key edited differently takes theirs and keeps ours in the copy) {
  json base = {{"1", user("ann", {"hi"})}, {"2", user("bob", {"yo"})}};
  json ours = base, theirs = base;
  ours["1"]["history"].push_back({{"role", "user"}, {"content", "from moscow"}});
  theirs["1"]["history"].push_back({{"role", "user"}, {"content", "from amsterdam"}});
  auto r = merge(text(base), text(ours), text(theirs));
  CAF_CHECK(!r.opaque);
  CAF_CHECK(r.conflict);
  CAF_CHECK_EQUAL(r.conflicting_keys, (strings{"1"}));
  auto j = result_of(r);
  CAF_CHECK_EQUAL(j["1"].dump(), theirs["1"].dump());
  CAF_CHECK_EQUAL(j["2"].dump(), base["2"].dump());
  auto c = copy_of(r);
  CAF_CHECK_EQUAL(c.dump(), json({{"1", ours["1"]}}).dump());
}

CAF_TEST(ours deleted while theirs edited keeps theirs and marks the deletion) {
  json base = {{"1", user("ann", {"hi"})}, {"2", user("bob", {"yo"})}};
  json ours = base, theirs = base;
  ours.erase("1");
  theirs["1"]["approved"] = false;
  auto r = merge(text(base), text(ours), text(theirs));
  CAF_CHECK_EQUAL(r.conflicting_keys, (strings{"1"}));
  CAF_CHECK_EQUAL(result_of(r).dump(), theirs.dump());
  auto c = copy_of(r);
  CAF_CHECK_EQUAL(c.dump(), json({{"1", nullptr}, {"_deleted", {"1"}}}).dump());
}

CAF_TEST(theirs deleted while ours edited drops the key and keeps ours in the copy) {
  json base = {{"1", user("ann", {"hi"})}, {"2", user("bob", {"yo"})}};
  json ours = base, theirs = base;
  ours["1"]["approved"] = false;
  theirs.erase("1");
  auto r = merge(text(base), text(ours), text(theirs));
  CAF_CHECK_EQUAL(r.conflicting_keys, (strings{"1"}));
  CAF_CHECK_EQUAL(result_of(r).dump(), theirs.dump());
  auto c = copy_of(r);
  CAF_CHECK_EQUAL(c.dump(), json({{"1", ours["1"]}}).dump());
  CAF_CHECK(!c.contains("_deleted"));
}

CAF_TEST(an explicit null of ours is told apart from a deletion) {
  json base = {{"1", 1}, {"2", 2}};
  json ours = {{"1", nullptr}};
  json theirs = {{"1", 10}, {"2", 20}};
  auto r = merge(text(base), text(ours), text(theirs));
  CAF_CHECK_EQUAL(r.conflicting_keys, (strings{"1", "2"}));
  auto c = copy_of(r);
  CAF_CHECK_EQUAL(c.dump(), json({{"1", nullptr}, {"2", nullptr}, {"_deleted", {"2"}}}).dump());
}

CAF_TEST(a conflicting key named like the deletion marker keeps its value) {
  json base = {{"_deleted", 1}, {"2", 2}};
  json ours = {{"_deleted", 5}};
  json theirs = {{"_deleted", 6}, {"2", 7}};
  auto r = merge(text(base), text(ours), text(theirs));
  auto c = copy_of(r);
  CAF_CHECK_EQUAL(c.dump(), json({{"_deleted", 5}, {"2", nullptr}, {"_deleted_", {"2"}}}).dump());
}

CAF_TEST(a key deleted on one side only or on both sides is gone) {
  json base = {{"1", 1}, {"2", 2}, {"3", 3}};
  json ours = {{"2", 2}};
  json theirs = {{"1", 1}, {"2", 2}};
  auto r = merge(text(base), text(ours), text(theirs));
  CAF_CHECK(!r.conflict);
  CAF_CHECK_EQUAL(result_of(r).dump(), json({{"2", 2}}).dump());
}

CAF_TEST(a file deleted on both sides stays deleted) {
  auto r = merge(text({{"1", 1}}), std::nullopt, std::nullopt);
  CAF_CHECK(!r.text);
  CAF_CHECK(!r.conflict);
  CAF_CHECK(!r.copy);
}

CAF_TEST(a file deleted on one side and untouched on the other is deleted) {
  json base = {{"1", user("ann", {"hi"})}};
  auto r = merge(text(base), std::nullopt, text(base));
  CAF_CHECK(!r.text);
  CAF_CHECK(!r.conflict);
  r = merge(text(base), text(base), std::nullopt);
  CAF_CHECK(!r.text);
  CAF_CHECK(!r.conflict);
}

CAF_TEST(a file deleted here but edited there keeps the edits and marks the conflict) {
  json base = {{"1", 1}, {"2", 2}};
  json theirs = {{"1", 10}, {"2", 2}, {"3", 3}};
  auto r = merge(text(base), std::nullopt, text(theirs));
  CAF_CHECK_EQUAL(result_of(r).dump(), json({{"1", 10}, {"3", 3}}).dump());
  CAF_CHECK_EQUAL(r.conflicting_keys, (strings{"1"}));
  CAF_CHECK_EQUAL(copy_of(r).dump(), json({{"1", nullptr}, {"_deleted", {"1"}}}).dump());
}

CAF_TEST(a file deleted there but edited here keeps our edits in file and copy) {
  json base = {{"1", 1}, {"2", 2}};
  json ours = {{"1", 10}, {"2", 2}};
  auto r = merge(text(base), text(ours), std::nullopt);
  CAF_CHECK(!r.text); // remote deletion wins key "1", "2" was deleted there only
  CAF_CHECK_EQUAL(copy_of(r).dump(), json({{"1", 10}}).dump());
  json added = {{"1", 1}, {"2", 2}, {"9", 9}};
  r = merge(text(base), text(added), std::nullopt);
  CAF_CHECK_EQUAL(result_of(r).dump(), json({{"9", 9}}).dump());
  CAF_CHECK(!r.conflict);
}

CAF_TEST(a file created on both sides merges against an empty base) {
  json ours = {{"mta1", {{"node_name", "moscow"}}}, {"mta2", {{"node_name", "almaty"}}}};
  json theirs = {{"mta1", {{"node_name", "amsterdam"}}}, {"mta3", {{"node_name", "spb"}}}};
  auto r = merge(std::nullopt, text(ours), text(theirs), "node_crypto/nodes.json");
  CAF_CHECK(!r.opaque);
  CAF_CHECK_EQUAL(r.conflicting_keys, (strings{"mta1"}));
  auto j = result_of(r);
  CAF_CHECK_EQUAL(
      j.dump(),
      json({{"mta1", theirs["mta1"]}, {"mta2", ours["mta2"]}, {"mta3", theirs["mta3"]}}).dump());
  CAF_REQUIRE(r.copy);
  CAF_CHECK_EQUAL(r.copy->path, "node_crypto/nodes.conflict-moscow-20261122T004512Z.json");
  CAF_CHECK_EQUAL(json::parse(r.copy->content).dump(), json({{"mta1", ours["mta1"]}}).dump());
}

CAF_TEST(key order and spacing inside a value are no change) {
  std::string base = R"({"1": {"a": 1, "b": [1, 2]}, "2": 2})";
  std::string ours = R"({"1":{"b":[1,2],"a":1},"2":2})";
  std::string theirs = R"({"1": {"a": 1, "b": [1, 2]}, "2": 3})";
  auto r = merge(base, ours, theirs);
  CAF_CHECK(!r.conflict);
  CAF_CHECK_EQUAL(result_of(r).dump(), json::parse(theirs).dump());
}

CAF_TEST(output lists one member per line with each value as written) {
  std::string base = R"({"b": 1})";
  std::string ours = R"({"b": 1, "a": {"z": 1, "y": [true]}})";
  std::string theirs = R"({"c": "x", "b": 1})";
  auto r = merge(base, ours, theirs);
  CAF_REQUIRE(r.text);
  CAF_CHECK_EQUAL(*r.text, "{\n"
                           "  \"c\": \"x\",\n"
                           "  \"b\": 1,\n"
                           "  \"a\": {\"z\": 1, \"y\": [true]}\n"
                           "}\n");
  // Named: CAF_CHECK_EQUAL keeps a reference to its argument, which must outlive the statement.
  auto empty = merge(std::nullopt, std::string{"{}"}, std::string{"{}"});
  CAF_CHECK_EQUAL(*empty.text, "{}\n");
}

CAF_TEST(with prefer ours the local value wins and the remote one goes to the copy) {
  json base = {{"1", user("ann", {"hi"})}, {"2", user("bob", {"yo"})}, {"3", 3}};
  json ours = base, theirs = base;
  ours["1"]["history"].push_back({{"role", "user"}, {"content", "from the holder"}});
  theirs["1"]["history"].push_back({{"role", "user"}, {"content", "from elsewhere"}});
  ours["3"] = 30;
  theirs.erase("3");
  theirs["2"]["approved"] = false; // theirs alone: kept
  merge_input in{users, text(base), text(ours), text(theirs), "moscow", "20261122T004512Z", true};
  auto r = merge_synced_file(in);
  CAF_CHECK_EQUAL(r.conflicting_keys, (strings{"1", "3"}));
  auto j = result_of(r);
  CAF_CHECK_EQUAL(j["1"].dump(), ours["1"].dump());
  CAF_CHECK_EQUAL(j["2"].dump(), theirs["2"].dump());
  CAF_CHECK_EQUAL(j["3"], 30);
  auto c = copy_of(r);
  CAF_CHECK_EQUAL(c.dump(), json({{"1", theirs["1"]}, {"3", nullptr}, {"_deleted", {"3"}}}).dump());
}

CAF_TEST(the same input gives identical output) {
  json base = {{"1", user("ann", {"hi"})}, {"2", user("bob", {"yo"})}};
  json ours = base, theirs = base;
  ours["1"]["approved"] = false;
  ours["4"] = user("dan", {"a", "b"});
  theirs["1"]["approved"] = true;
  theirs["1"]["username"] = "ann2";
  theirs.erase("2");
  auto a = merge(text(base), text(ours), text(theirs));
  auto b = merge(text(base), text(ours), text(theirs));
  CAF_REQUIRE(a.text && b.text && a.copy && b.copy);
  CAF_CHECK_EQUAL(*a.text, *b.text);
  CAF_CHECK_EQUAL(a.copy->content, b.copy->content);
  CAF_CHECK_EQUAL(a.conflicting_keys, b.conflicting_keys);
}

// --- Opaque files ---------------------------------------------------------------------

CAF_TEST(a side that does not parse is merged as unchanged and reported) {
  json base = {{"1", 1}, {"2", 2}};
  std::string ours = json({{"1", 2}, {"2", 2}}).dump();
  std::string truncated = "{\"1\": 3,"; // a writer caught mid-write
  auto r = merge(text(base), ours, truncated);
  CAF_CHECK(!r.opaque);
  CAF_CHECK(!r.conflict);
  CAF_CHECK_EQUAL(r.broken, (strings{"theirs"}));
  CAF_CHECK_EQUAL(result_of(r).dump(), json::parse(ours).dump());
  CAF_CHECK(!r.copy);
  // Ours broken: theirs' changes only.
  std::string theirs = json({{"1", 1}, {"2", 20}}).dump();
  r = merge(text(base), std::string{"not json \xff"}, theirs);
  CAF_CHECK_EQUAL(r.broken, (strings{"ours"}));
  CAF_CHECK_EQUAL(result_of(r).dump(), json::parse(theirs).dump());
  CAF_CHECK(!r.copy);
  // A broken base is an empty object: nothing either side has is lost.
  r = merge(std::string{""}, ours, theirs);
  CAF_CHECK_EQUAL(r.broken, (strings{"base"}));
  CAF_CHECK_EQUAL(result_of(r).dump(), json::parse(theirs).dump());
  CAF_CHECK_EQUAL(copy_of(r).dump(), json::parse(ours).dump());
}

CAF_TEST(valid json that is not an object is opaque and broken text is not ) {
  for (std::string other : {"[1, 2]", "null", "42", "\"s\""}) {
    CAF_MESSAGE("other side: " << other);
    auto r = merge(std::string{"{}"}, other, std::string{"{\"1\": 1}"});
    CAF_CHECK(r.opaque);
    CAF_CHECK_EQUAL(opt(r.text), opt("{\"1\": 1}"));
    CAF_REQUIRE(r.copy);
    CAF_CHECK_EQUAL(r.copy->content, other);
  }
  for (std::string other : {"", "{} {}", "{\"a\": 1,}", "{'a': 1}", "[1, 2"}) {
    CAF_MESSAGE("other side: " << other);
    auto r = merge(std::string{"{}"}, other, std::string{"{\"1\": 1}"});
    CAF_CHECK(!r.opaque);
    CAF_CHECK_EQUAL(r.broken, (strings{"ours"}));
    CAF_CHECK_EQUAL(result_of(r).dump(), json({{"1", 1}}).dump());
    CAF_CHECK(!r.copy);
  }
}

CAF_TEST(an opaque file changed on one side only takes that side) {
  std::string base = "[1]", changed = "[1, 2]";
  auto r = merge(base, changed, base);
  CAF_CHECK(r.opaque);
  CAF_CHECK(!r.conflict);
  CAF_CHECK(!r.copy);
  CAF_CHECK_EQUAL(opt(r.text), opt(changed));
  r = merge(base, base, changed);
  CAF_CHECK(!r.conflict);
  CAF_CHECK_EQUAL(opt(r.text), opt(changed));
  r = merge(base, changed, changed);
  CAF_CHECK(!r.conflict);
  CAF_CHECK_EQUAL(opt(r.text), opt(changed));
  r = merge(base, base, std::nullopt);
  CAF_CHECK(!r.conflict);
  CAF_CHECK(!r.text);
}

CAF_TEST(an opaque file deleted here but changed there takes theirs without copy) {
  auto r = merge(std::string{"[1]"}, std::nullopt, std::string{"[2]"});
  CAF_CHECK(r.opaque);
  CAF_CHECK(r.conflict);
  CAF_CHECK(!r.copy); // nothing of ours to keep
  CAF_CHECK_EQUAL(opt(r.text), opt("[2]"));
}

CAF_TEST(an opaque file changed here but deleted there is deleted and ours kept) {
  auto r = merge(std::string{"[1]"}, std::string{"[3]"}, std::nullopt);
  CAF_CHECK(r.opaque);
  CAF_CHECK(r.conflict);
  CAF_CHECK(!r.text);
  CAF_REQUIRE(r.copy);
  CAF_CHECK_EQUAL(r.copy->content, "[3]");
}

CAF_TEST(an opaque file created differently on both sides keeps ours) {
  auto r = merge(std::nullopt, std::string{"ours"}, std::string{"theirs"}, "notes.txt");
  CAF_CHECK(r.conflict);
  CAF_CHECK_EQUAL(opt(r.text), opt("theirs"));
  CAF_REQUIRE(r.copy);
  CAF_CHECK_EQUAL(r.copy->path, "notes.conflict-moscow-20261122T004512Z.txt");
  CAF_CHECK_EQUAL(r.copy->content, "ours");
}

CAF_TEST(deeply nested input does not parse and does not crash) {
  std::string deep = "{\"1\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto r = merge(std::string{"{}"}, deep, std::string{"{\"2\": 2}"});
  CAF_CHECK_EQUAL(r.broken, (strings{"ours"}));
  CAF_CHECK_EQUAL(result_of(r).dump(), json({{"2", 2}}).dump());
  // unbalanced brackets and brackets inside strings
  std::string open = std::string(100000, '{');
  r = merge(open, open, std::string{"{}"});
  CAF_CHECK_EQUAL(r.broken, (strings{"base", "ours"}));
  CAF_CHECK_EQUAL(opt(r.text), opt("{}\n"));
  std::string quoted = "{\"1\": \"" + std::string(1000, '[') + "\\\"\"}";
  auto q = merge(std::string{"{}"}, quoted, std::string{"{}"});
  CAF_CHECK(!q.opaque);
  auto j = result_of(q);
  CAF_CHECK_EQUAL(j["1"].get<std::string>(), std::string(1000, '[') + "\"");
}

// --- Conflict copy path ---------------------------------------------------------------

CAF_TEST(the conflict copy is named by inserting before the last extension) {
  auto p = [](const std::string& path) { return conflict_copy_path(path, "moscow", "T1Z"); };
  CAF_CHECK_EQUAL(p("data/users.json"), "data/users.conflict-moscow-T1Z.json");
  CAF_CHECK_EQUAL(p("node_crypto/nodes.json"), "node_crypto/nodes.conflict-moscow-T1Z.json");
  CAF_CHECK_EQUAL(p("users.json"), "users.conflict-moscow-T1Z.json");
  CAF_CHECK_EQUAL(p("dir/x.tar.gz"), "dir/x.tar.conflict-moscow-T1Z.gz");
  CAF_CHECK_EQUAL(p("README"), "README.conflict-moscow-T1Z");
  CAF_CHECK_EQUAL(p("dir/.env"), "dir/.env.conflict-moscow-T1Z");
  CAF_CHECK_EQUAL(p("a.d/file"), "a.d/file.conflict-moscow-T1Z");
  CAF_CHECK_EQUAL(conflict_copy_path("data/users.json", "../x/y", "2026 11:22"),
                  "data/users.conflict-.._x_y-2026_11_22.json");
}

// --- Property: nothing is lost --------------------------------------------------------

namespace {

/// Random synced-file contents and edits; every new value is unique so it can be traced.
struct generator {
  std::mt19937 rng;
  int next = 0;

  explicit generator(unsigned seed) : rng(seed) {}

  int below(int n) { return std::uniform_int_distribution<int>{0, n - 1}(rng); }

  json value() {
    ++next;
    switch (below(4)) {
    case 0:
      return next;
    case 1:
      return nullptr; // an explicit null must not be confused with a deletion
    default: {
      std::vector<std::string> said;
      for (int i = below(3); i >= 0; --i)
        said.push_back("msg" + std::to_string(next) + "_" + std::to_string(i));
      return user("u" + std::to_string(next), said, below(2) == 0);
    }
    }
  }

  /// Writes `j` as ordered text with keys in a random order and random spacing.
  std::string write(const json& j) {
    std::vector<std::string> keys;
    for (auto& [k, v] : j.items())
      keys.push_back(k);
    std::shuffle(keys.begin(), keys.end(), rng);
    ojson o = ojson::object();
    for (const auto& k : keys)
      o[k] = ojson::parse(j[k].dump());
    return o.dump(below(2) == 0 ? -1 : 2);
  }
};

const json* find(const json& obj, const std::string& key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

bool same(const json* a, const json* b) {
  return a == nullptr || b == nullptr ? a == b : *a == *b;
}

std::string show(const json* x) {
  return x ? x->dump() : "<absent>";
}

} // namespace

CAF_TEST(randomized edits lose nothing and one sided changes take that side) {
  generator gen{20261122};
  std::vector<std::string> pool;
  for (int i = 0; i < 12; ++i)
    pool.push_back(std::to_string(1000 + i));
  int conflicts_seen = 0, deletes_in_copy = 0, shared_edits = 0;
  for (int round = 0; round < 200; ++round) {
    CAF_MESSAGE("round " << round);
    bool base_absent = gen.below(10) == 0;
    json base = json::object();
    if (!base_absent)
      for (const auto& k : pool)
        if (gen.below(2) == 0)
          base[k] = gen.value();
    json ours = base, theirs = base;
    for (const auto& k : pool) {
      if (gen.below(8) == 0) { // the same change on both sides
        ++shared_edits;
        if (base.contains(k) && gen.below(2) == 0) {
          ours.erase(k);
          theirs.erase(k);
        } else {
          ours[k] = theirs[k] = gen.value();
        }
        continue;
      }
      for (auto* side : {&ours, &theirs}) {
        switch (gen.below(6)) {
        case 0:
          (*side)[k] = gen.value(); // add or modify
          break;
        case 1:
          side->erase(k);
          break;
        default:
          break; // untouched
        }
      }
    }
    bool ours_absent = gen.below(20) == 0;
    bool theirs_absent = gen.below(20) == 0;
    if (ours_absent)
      ours = json::object();
    if (theirs_absent)
      theirs = json::object();
    merge_input in{users,
                   base_absent ? std::nullopt : std::optional{gen.write(base)},
                   ours_absent ? std::nullopt : std::optional{gen.write(ours)},
                   theirs_absent ? std::nullopt : std::optional{gen.write(theirs)},
                   "moscow",
                   "20261122T004512Z"};
    auto r = merge_synced_file(in);
    CAF_REQUIRE(!r.opaque);
    json result = json::object();
    if (r.text) {
      result = json::parse(*r.text, nullptr, false);
      CAF_REQUIRE(result.is_object());
    } else {
      CAF_CHECK(ours_absent || theirs_absent); // only a deleted file may vanish
    }
    json copy = json::object();
    std::set<std::string> copy_deleted;
    if (r.copy) {
      CAF_CHECK_EQUAL(r.copy->path, users_copy);
      copy = json::parse(r.copy->content, nullptr, false);
      CAF_REQUIRE(copy.is_object());
      if (copy.contains("_deleted"))
        for (const auto& k : copy["_deleted"])
          copy_deleted.insert(k.get<std::string>());
    }
    CAF_CHECK_EQUAL(r.copy.has_value(), !r.conflicting_keys.empty());
    CAF_CHECK_EQUAL(r.conflict, !r.conflicting_keys.empty());
    std::set<std::string> conflicting(r.conflicting_keys.begin(), r.conflicting_keys.end());
    CAF_CHECK_EQUAL(conflicting.size(), r.conflicting_keys.size());
    for (const auto& k : pool) {
      const auto* b = find(base, k);
      const auto* o = find(ours, k);
      const auto* t = find(theirs, k);
      const auto* res = find(result, k);
      const auto* cp = find(copy, k);
      auto ctx = "key " + k + " base " + show(b) + " ours " + show(o) + " theirs " + show(t) +
                 " result " + show(res) + " copy " + show(cp);
      // Nothing lost: a value a side introduced is in the result or in the copy.
      for (const auto* side : {o, t})
        if (side && !same(side, b))
          CAF_CHECK_EQUAL(ctx + (same(res, side) || same(cp, side) ? "" : " LOST"), ctx);
      bool ours_changed = !same(o, b);
      bool theirs_changed = !same(t, b);
      bool expect_conflict = ours_changed && theirs_changed && !same(o, t);
      CAF_CHECK_EQUAL(ctx + (conflicting.count(k) ? " conflict" : ""),
                      ctx + (expect_conflict ? " conflict" : ""));
      if (ours_changed && !theirs_changed)
        CAF_CHECK_EQUAL(show(res), show(o)); // our change alone, incl. a deletion
      else if (!expect_conflict)
        CAF_CHECK_EQUAL(show(res), show(t)); // theirs alone, both alike, or untouched
      if (expect_conflict) {
        ++conflicts_seen;
        CAF_CHECK_EQUAL(show(res), show(t)); // remote wins
        CAF_CHECK_EQUAL(show(cp), o ? o->dump() : "null");
        CAF_CHECK_EQUAL(copy_deleted.count(k), o ? 0u : 1u);
        deletes_in_copy += o ? 0 : 1;
      } else {
        CAF_CHECK(cp == nullptr);
      }
    }
    // Stable order: theirs' keys first in their order, then keys only ours has.
    if (r.text) {
      std::vector<std::string> expected_order;
      for (const auto& k : keys_in_order(in.theirs ? *in.theirs : "{}"))
        if (result.contains(k))
          expected_order.push_back(k);
      if (in.ours)
        for (const auto& k : keys_in_order(*in.ours))
          if (result.contains(k) && !theirs.contains(k))
            expected_order.push_back(k);
      CAF_CHECK_EQUAL(keys_in_order(*r.text), expected_order);
    }
    // Deterministic.
    auto again = merge_synced_file(in);
    CAF_CHECK_EQUAL(opt(again.text), opt(r.text));
    CAF_CHECK_EQUAL(again.copy.has_value(), r.copy.has_value());
    if (again.copy && r.copy)
      CAF_CHECK_EQUAL(again.copy->content, r.copy->content);
  }
  // The generator must actually exercise the interesting cases.
  CAF_CHECK_GREATER(conflicts_seen, 50);
  CAF_CHECK_GREATER(deletes_in_copy, 10);
  CAF_CHECK_GREATER(shared_edits, 50);
}
