#define CAF_SUITE runtime.registry
#include "caf/test/dsl.hpp"

#include "runtime/config.hpp"
#include "runtime/identity.hpp"
#include "runtime/registry.hpp"
#include "support/files.hpp"
#include "support/guard.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace montana;
using montana::testing::contains;
using montana::testing::read_file;
using montana::testing::scratch;
using json = nlohmann::ordered_json;

namespace {

// The five official nodes as the original's import_official_nodes writes them (real Ed25519 keys,
// addresses computed by sha256sum), plus fields it never had: they must survive a rewrite.
const std::string sample = R"({
  "mt03bcf9d7891ac4e3417a0eb2abc7f86b3aab744f": {
    "address": "mt03bcf9d7891ac4e3417a0eb2abc7f86b3aab744f",
    "public_key": "22aeb76e5ce052a23e12214edcf6cfa68941bbc2b4fd04860d263849c97d714e",
    "owner": 8552053404,
    "node_name": "amsterdam",
    "alias": "amsterdam.montana.network",
    "location": "🇳🇱 Amsterdam",
    "ip": "72.56.102.240",
    "type": "full",
    "created_at": "2025-12-01T10:00:00.123456+00:00",
    "official": true,
    "priority": 1,
    "links": {
      "ports": [
        19333,
        443
      ],
      "telegram": "@montana"
    },
    "uptime": 99.5
  },
  "mt83b1b2f6e3551a9a8ef2e2ecfd0ab9306a69210c": {
    "address": "mt83b1b2f6e3551a9a8ef2e2ecfd0ab9306a69210c",
    "public_key": "615e41a8f88eb39eb66d1c5b05b9fdf5442688d89a2e47b2d248c0c17fa1dc3e",
    "owner": 8552053404,
    "node_name": "moscow",
    "alias": "moscow.montana.network",
    "location": "🇷🇺 Moscow",
    "ip": "176.124.208.93",
    "type": "full",
    "created_at": "2025-12-01T10:00:00.234567+00:00",
    "official": true,
    "priority": 2
  },
  "mt0d2511d196741b19d01290212fb95ec203eb39a5": {
    "address": "mt0d2511d196741b19d01290212fb95ec203eb39a5",
    "public_key": "8b9e700428eaf2861e286ae5aafb3bcc9056474eff41fd024daf9fe900fabe24",
    "owner": 8552053404,
    "node_name": "almaty",
    "alias": "almaty.montana.network",
    "location": "🇰🇿 Almaty",
    "ip": "91.200.148.93",
    "type": "full",
    "created_at": "2025-12-01T10:00:00.345678+00:00",
    "official": true,
    "priority": 3
  },
  "mtad894087c9ebb15c47078bf5c67d6ad90db51a73": {
    "address": "mtad894087c9ebb15c47078bf5c67d6ad90db51a73",
    "public_key": "3274288ed7b1b3a80961b1a6ee0d7799d88b3a4447c0b6458a5ba4bce6af6f37",
    "owner": 8552053404,
    "node_name": "spb",
    "alias": "spb.montana.network",
    "location": "🇷🇺 St.Petersburg",
    "ip": "188.225.58.98",
    "type": "full",
    "created_at": "2025-12-01T10:00:00.456789+00:00",
    "official": true,
    "priority": 4
  },
  "mtd1526ba07714a28e7f15ded89e5bf8352c10109c": {
    "address": "mtd1526ba07714a28e7f15ded89e5bf8352c10109c",
    "public_key": "80ef630b84edad79b3ccd3cb326ab7acd935aa894f77e9e393b3237c4b5c75a2",
    "owner": 8552053404,
    "node_name": "novosibirsk",
    "alias": "novosibirsk.montana.network",
    "location": "🇷🇺 Novosibirsk",
    "ip": "147.45.147.247",
    "type": "full",
    "created_at": "2025-12-01T10:00:00.567890+00:00",
    "official": true,
    "priority": 5
  }
}
)";

const std::string amsterdam = "mt03bcf9d7891ac4e3417a0eb2abc7f86b3aab744f";
const std::string moscow = "mt83b1b2f6e3551a9a8ef2e2ecfd0ab9306a69210c";

/// The one-line registry_error `f` throws; fails the test if there is none.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const registry_error& e) {
    std::string message = e.what();
    CAF_CHECK_EQUAL(message.find('\n'), std::string::npos);
    return message;
  }
  CAF_FAIL("no registry_error");
}

/// The error of parsing `document` as "nodes.json".
std::string parse_error(const json& document) {
  auto message = error_of([&] { registry::parse(document.dump(2), "nodes.json"); });
  CAF_CHECK(message.starts_with("nodes.json: "));
  return message;
}

struct fixture : scratch {
  config cfg = parse_config(default_config_text(), "<default>");

  fixture() : scratch{"registry"} {}
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(registry_tests, fixture)

CAF_TEST(a registry in the shape of the original parses and finds nodes by name and address) {
  auto reg = registry::parse(sample, "nodes.json");
  CAF_REQUIRE_EQUAL(reg.entries().size(), 5u);
  const char* names[] = {"amsterdam", "moscow", "almaty", "spb", "novosibirsk"};
  for (size_t i = 0; i < 5; ++i) {
    auto& entry = reg.entries()[i];
    CAF_CHECK_EQUAL(entry.node_name, names[i]);
    CAF_CHECK_EQUAL(entry.priority, static_cast<int64_t>(i + 1));
    CAF_CHECK_EQUAL(entry.alias, node_alias(names[i]));
  }
  auto* almaty = reg.find_name("almaty");
  CAF_REQUIRE(almaty != nullptr);
  CAF_CHECK_EQUAL(almaty->ip, "91.200.148.93");
  CAF_CHECK_EQUAL(almaty->address, "mt0d2511d196741b19d01290212fb95ec203eb39a5");
  CAF_CHECK(almaty->fields["location"] == "🇰🇿 Almaty");
  CAF_CHECK(reg.find_address(moscow) == reg.find_name("moscow"));
  CAF_CHECK(reg.find_name("tokyo") == nullptr);
  CAF_CHECK(reg.find_address("mt00") == nullptr);
}

CAF_TEST(a rewrite gives back the same text with unknown fields in their order) {
  auto reg = registry::parse(sample, "nodes.json");
  CAF_CHECK_EQUAL(reg.text(), sample);
  CAF_CHECK_EQUAL(registry::parse("{}", "empty").text(), "{}\n");
}

CAF_TEST(save replaces the file atomically with mode 0644 and load reads it back) {
  auto file = write("nodes.json", "{}");
  ::chmod(file.c_str(), 0600);
  registry::parse(sample, "sample").save(file);
  CAF_CHECK_EQUAL(read_file(file), sample);
  struct stat st {};
  CAF_REQUIRE_EQUAL(::stat(file.c_str(), &st), 0);
  CAF_CHECK_EQUAL(st.st_mode & 07777, 0644u);
  CAF_CHECK_EQUAL(std::distance(std::filesystem::directory_iterator{dir},
                                std::filesystem::directory_iterator{}),
                  1);
  CAF_CHECK_EQUAL(registry::load(file).text(), sample);
  auto missing = path("none.json");
  CAF_CHECK_EQUAL(error_of([&] { registry::load(missing); }),
                  missing + ": cannot read the node registry: no such file or directory");
}

CAF_TEST(register adds a node from its certificate then updates it) {
  auto id = create_identity("moscow", path("keys"));
  auto file = path("node_crypto/nodes.json");
  auto line = register_identity(file, id.files.cert_path, cfg);
  CAF_CHECK_EQUAL(line, "added moscow (" + id.address + ") to " + file);
  auto reg = registry::load(file);
  CAF_REQUIRE_EQUAL(reg.entries().size(), 1u);
  auto entry = reg.entries()[0];
  CAF_CHECK_EQUAL(entry.address, id.address);
  CAF_CHECK_EQUAL(entry.public_key, id.public_key);
  CAF_CHECK_EQUAL(entry.alias, "moscow.montana.network");
  CAF_CHECK_EQUAL(entry.ip, "176.124.208.93");
  CAF_CHECK_EQUAL(entry.priority, 2);
  CAF_CHECK(entry.fields["type"] == "full");
  auto created = entry.fields["created_at"].get<std::string>();
  CAF_CHECK_EQUAL(created.size(), 32u);
  CAF_CHECK(created.ends_with("+00:00"));
  CAF_CHECK(!entry.fields.contains("operator"));

  cfg.nodes[1].host = "10.0.0.2";
  CAF_CHECK_EQUAL(register_identity(file, id.files.cert_path, cfg, std::string{"moscow"}),
                  "updated moscow (" + id.address + ") in " + file);
  entry = registry::load(file).entries()[0];
  CAF_CHECK_EQUAL(entry.ip, "10.0.0.2");
  CAF_CHECK(entry.fields["created_at"] == created);
}

CAF_TEST(register replaces the entry of a node with a new key and keeps its other fields) {
  auto file = write("nodes.json", sample);
  auto id = create_identity("amsterdam", path("keys"));
  CAF_CHECK_EQUAL(register_identity(file, id.files.cert_path, cfg),
                  "replaced amsterdam's previous key " + amsterdam + " by " + id.address + " in " +
                      file);
  auto reg = registry::load(file);
  CAF_REQUIRE_EQUAL(reg.entries().size(), 5u);
  CAF_CHECK(reg.find_address(amsterdam) == nullptr);
  auto& entry = reg.entries()[0];
  CAF_CHECK_EQUAL(entry.address, id.address);
  CAF_CHECK_EQUAL(entry.node_name, "amsterdam");
  CAF_CHECK_EQUAL(entry.public_key, id.public_key);
  CAF_CHECK(entry.fields["owner"] == 8552053404);
  CAF_CHECK(entry.fields["location"] == "🇳🇱 Amsterdam");
  CAF_CHECK(entry.fields["created_at"] == "2025-12-01T10:00:00.123456+00:00");
  CAF_CHECK(entry.fields["uptime"] == 99.5);
  // The other four entries are untouched, byte for byte.
  auto text = read_file(file);
  CAF_CHECK(text.ends_with(sample.substr(sample.find("  \"" + moscow))));
}

CAF_TEST(an operator entry of the time the shell spoke TLS is refused saying what to do) {
  auto document = json::parse(sample);
  document[moscow]["operator"] = true;
  CAF_CHECK(contains(parse_error(document), "operator entries are no longer used"));
}

CAF_TEST(register refuses another name an unknown node and an expired certificate) {
  auto file = path("nodes.json");
  auto tokyo = create_identity("tokyo", path("keys"));
  auto message = error_of([&] { register_identity(file, tokyo.files.cert_path, cfg); });
  CAF_CHECK_EQUAL(message, tokyo.files.cert_path +
                               ": 'tokyo' is no node of the cluster (known: amsterdam, moscow, "
                               "almaty, spb, novosibirsk)");
  auto spb = create_identity("spb", path("keys"));
  message =
      error_of([&] { register_identity(file, spb.files.cert_path, cfg, std::string{"almaty"}); });
  CAF_CHECK_EQUAL(message, spb.files.cert_path + ": belongs to 'spb', not 'almaty'");
  auto old = create_identity("almaty", path("old"), -1);
  message = error_of([&] { register_identity(file, old.files.cert_path, cfg); });
  CAF_CHECK(contains(message, "expired"));
  CAF_CHECK(!std::filesystem::exists(file));
}

CAF_TEST(invalid JSON and wrong shapes are one - line errors naming the file and the entry) {
  CAF_CHECK(contains(error_of([] { registry::parse("{\n\"mt\": {,\n}", "nodes.json"); }),
                     "nodes.json: invalid JSON: parse error at line 2"));
  CAF_CHECK_EQUAL(parse_error(json::array()),
                  "nodes.json: expected an object keyed by node address, got array");
  CAF_CHECK_EQUAL(parse_error(json{{"mt00", 1}}),
                  "nodes.json: entry mt00: expected an object, got number");

  auto base = json::parse(sample);
  auto broken = [&](const std::string& address, auto edit) {
    auto document = base;
    edit(document[address]);
    return parse_error(document);
  };
  auto where = "nodes.json: entry " + amsterdam + " (amsterdam): ";
  CAF_CHECK_EQUAL(broken(amsterdam, [&](json& e) { e["public_key"] = base[moscow]["public_key"]; }),
                  where + "address does not match its public_key (that key's address is " + moscow +
                      ")");
  CAF_CHECK_EQUAL(broken(amsterdam, [](json& e) { e["address"] = "mt00"; }),
                  where + "\"address\" is mt00, not its key");
  CAF_CHECK_EQUAL(broken(amsterdam, [](json& e) { e["public_key"] = "xyz"; }),
                  where + "\"public_key\" is not hex");
  CAF_CHECK_EQUAL(broken(amsterdam, [](json& e) { e.erase("public_key"); }),
                  where + "missing \"public_key\"");
  CAF_CHECK_EQUAL(broken(amsterdam, [](json& e) { e["priority"] = "1"; }),
                  where + "\"priority\" must be an integer, got string");
  CAF_CHECK_EQUAL(broken(amsterdam, [](json& e) { e["priority"] = 0; }),
                  where + "\"priority\" 0 must be 1 or more");
  CAF_CHECK_EQUAL(broken(amsterdam, [](json& e) { e["alias"] = "amsterdam.example.org"; }),
                  where + "\"alias\" is amsterdam.example.org, expected amsterdam.montana.network");
  CAF_CHECK_EQUAL(broken(amsterdam, [](json& e) { e["node_name"] = "evil\nname"; }),
                  "nodes.json: entry " + amsterdam +
                      " (evil\\x0aname): \"alias\" is amsterdam.montana.network, expected "
                      "evil\\x0aname.montana.network");
  CAF_CHECK_EQUAL(broken(moscow,
                         [](json& e) {
                           e["node_name"] = "amsterdam";
                           e["alias"] = "amsterdam.montana.network";
                         }),
                  "nodes.json: node 'amsterdam' is registered twice: " + amsterdam + " and " +
                      moscow);
}

CAF_TEST(a registry that is no file or holds bytes that are not text is one printable line) {
  auto is_dir = error_of([&] { registry::load(dir); });
  CAF_CHECK(contains(is_dir, dir + ": the node registry is a directory, not a file"));
  auto fifo = path("fifo.json");
  CAF_REQUIRE_EQUAL(::mkfifo(fifo.c_str(), 0600), 0);
  CAF_CHECK(contains(error_of([&] { registry::load(fifo); }), "not a regular file"));
  // Raw bytes that are not UTF-8 never reach a log line as they are.
  auto raw = error_of([] { registry::parse("{\"mt\xff\xfe\x1b[31m\": 1}", "nodes.json"); });
  CAF_CHECK(contains(raw, "nodes.json: invalid JSON"));
  for (auto c : raw)
    CAF_CHECK(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f);
}

CAF_TEST(upsert validates the entry and refuses an address registered under another name) {
  auto reg = registry::parse(sample, "nodes.json");
  auto entry = *reg.find_name("moscow");
  entry.node_name = "amsterdam";
  entry.alias = node_alias("amsterdam");
  CAF_CHECK_EQUAL(error_of([&] { reg.upsert(entry); }),
                  "cannot register amsterdam as " + moscow +
                      ": that address is already node 'moscow'");
  entry = *reg.find_name("moscow");
  entry.address = amsterdam;
  CAF_CHECK(
      contains(error_of([&] { reg.upsert(entry); }), "address does not match its public_key"));
  CAF_CHECK_EQUAL(reg.text(), sample);
}

CAF_TEST_FIXTURE_SCOPE_END()
