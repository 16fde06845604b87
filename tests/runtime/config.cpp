#define CAF_SUITE runtime.config
#include "caf/test/dsl.hpp"

#include "runtime/config.hpp"
#include "support/guard.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace montana;
using montana::testing::scratch;
using namespace std::literals;

namespace {

// A valid remainder, appended after the lines under test so those start at line 1.
constexpr std::string_view rest = R"(
[[cluster.nodes]]
name = "a"
host = "127.0.0.1"

[[cluster.nodes]]
name = "b"
host = "127.0.0.2"

[duty.bot]
command = ["/bin/true"]
)";

std::string with_rest(std::string_view head) {
  return std::string{head} + std::string{rest};
}

/// The error parse_config raises for `text` (origin "test.toml"); fails the test if there is none.
std::string error_of(const std::string& text) {
  try {
    parse_config(text, "test.toml");
  } catch (const config_error& e) {
    std::string message = e.what();
    CAF_CHECK_EQUAL(message.find('\n'), std::string::npos);
    return message;
  }
  CAF_FAIL("no error for:\n" << text);
}

/// A file of this repository.
std::string repo_file(const std::string& relative) {
  auto path = std::filesystem::path{MONTANA_SOURCE_DIR} / relative;
  std::ifstream in{path};
  if (!in)
    CAF_FAIL("cannot read " << path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Sets or unsets MONTANA_NODE_NAME for one test and restores the old value.
class node_env {
public:
  node_env() {
    if (auto* old = std::getenv(var))
      old_ = old;
  }
  ~node_env() {
    if (old_)
      setenv(var, old_->c_str(), 1);
    else
      unsetenv(var);
  }
  void set(const char* value) { setenv(var, value, 1); }
  void unset() { unsetenv(var); }

private:
  static constexpr const char* var = "MONTANA_NODE_NAME";
  std::optional<std::string> old_;
};

/// A fresh directory under $TMPDIR, removed with everything in it.
struct temp_dir : scratch {
  temp_dir() : scratch{"config"} {}
};

} // namespace

CAF_TEST(the default has the five seed hosts in chain order and one duty over all of them) {
  auto cfg = parse_config(default_config_text(), "<default>");
  std::vector<std::pair<std::string, std::string>> seeds{{"amsterdam", "72.56.102.240"},
                                                         {"moscow", "176.124.208.93"},
                                                         {"almaty", "91.200.148.93"},
                                                         {"spb", "188.225.58.98"},
                                                         {"novosibirsk", "147.45.147.247"}};
  CAF_REQUIRE_EQUAL(cfg.nodes.size(), seeds.size());
  for (size_t i = 0; i < seeds.size(); ++i) {
    CAF_CHECK_EQUAL(cfg.nodes[i].name, seeds[i].first);
    CAF_CHECK_EQUAL(cfg.nodes[i].host, seeds[i].second);
    CAF_CHECK_EQUAL(cfg.nodes[i].port, 19333);
    CAF_CHECK_EQUAL(cfg.nodes[i].bind, "");
  }
  CAF_REQUIRE_EQUAL(cfg.duties.size(), 1u);
  auto& bot = cfg.duties[0];
  CAF_CHECK_EQUAL(bot.name, "bot");
  CAF_CHECK_EQUAL(
      bot.chain, (std::vector<std::string>{"amsterdam", "moscow", "almaty", "spb", "novosibirsk"}));
  CAF_CHECK_EQUAL(bot.command,
                  (std::vector<std::string>{"/usr/bin/python3", "/opt/montana/bot/bot.py"}));
  // Everything else keeps the defaults of actors/settings.hpp.
  CAF_CHECK_EQUAL(cfg.probe.interval.count(), probe_settings{}.interval.count());
  CAF_CHECK_EQUAL(cfg.channel.connection_timeout.count(),
                  channel_settings{}.connection_timeout.count());
  CAF_CHECK_EQUAL(bot.stop_grace.count(), duty_settings{}.stop_grace.count());
  CAF_CHECK_EQUAL(cfg.log.level, "info");
}

CAF_TEST(the sample deploy file is the embedded default) {
  CAF_CHECK(repo_file("deploy/montana.toml") == default_config_text());
}

CAF_TEST(the documentation examples are valid) {
  auto doc = repo_file("docs/configuration.md");
  constexpr std::string_view fence = "```toml\n";
  size_t examples = 0;
  for (auto at = doc.find(fence); at != std::string::npos; at = doc.find(fence, at)) {
    at += fence.size();
    auto end = doc.find("```", at);
    auto block = doc.substr(at, end - at);
    // Fragments (an extra duty, a profile) are shown on top of the default.
    if (block.find("[[cluster.nodes]]") == std::string::npos)
      block = std::string{default_config_text()} + block;
    CAF_MESSAGE("example " << examples);
    parse_config(block, "docs/configuration.md");
    ++examples;
  }
  CAF_CHECK_EQUAL(examples, 5u);
}

CAF_TEST(a file with every key sets every field) {
  auto cfg = parse_config(R"([cluster]
port = 20000

[[cluster.nodes]]
name = "alpha"
host = "127.0.0.1"
port = 20001
bind = "0.0.0.0"

[[cluster.nodes]]
name = "beta"
host = "127.0.0.2"

[[cluster.nodes]]
name = "gamma-3"
host = "127.0.0.3"

[probe]
interval = "200ms"
timeout = 0.1
retry = "20ms"
checks = "host"
rise = 2
fall = 4

[channel]
heartbeat_interval = "100ms"
connection_timeout = "300ms"
reconnect_min = "50ms"
reconnect_max = "5s"

[duty.bot]
command = ["/usr/bin/python3", "/opt/bot.py", ""]
env = { BOT_MODE = "poll", LOG_LEVEL = "debug" }
stop_grace = 5
startup_delay = 0
restart_min = "250ms"
restart_max = "1m"

[duty.brain]
chain = ["gamma-3", "beta"]
command = "exec /opt/brain --fast"

[log]
level = "debug"
)",
                          "full.toml");
  CAF_REQUIRE_EQUAL(cfg.nodes.size(), 3u);
  CAF_CHECK_EQUAL(cfg.nodes[0].port, 20001);
  CAF_CHECK_EQUAL(cfg.nodes[0].bind, "0.0.0.0");
  CAF_CHECK_EQUAL(cfg.nodes[1].port, 20000);
  CAF_CHECK_EQUAL(cfg.nodes[2].name, "gamma-3");
  CAF_CHECK_EQUAL(cfg.nodes[2].host, "127.0.0.3");
  CAF_CHECK_EQUAL(cfg.probe.interval.count(), 200);
  CAF_CHECK_EQUAL(cfg.probe.timeout.count(), 100);
  CAF_CHECK_EQUAL(cfg.probe.retry.count(), 20);
  CAF_CHECK(cfg.probe.checks == check_mode::host);
  CAF_CHECK_EQUAL(cfg.probe.rise, 2);
  CAF_CHECK_EQUAL(cfg.probe.fall, 4);
  CAF_CHECK_EQUAL(cfg.channel.heartbeat_interval.count(), 100);
  CAF_CHECK_EQUAL(cfg.channel.connection_timeout.count(), 300);
  CAF_CHECK_EQUAL(cfg.channel.reconnect_min.count(), 50);
  CAF_CHECK_EQUAL(cfg.channel.reconnect_max.count(), 5000);
  // Duties keep the file's order, not toml++'s sorted one.
  CAF_REQUIRE_EQUAL(cfg.duties.size(), 2u);
  auto& bot = cfg.duties[0];
  CAF_CHECK_EQUAL(bot.name, "bot");
  CAF_CHECK_EQUAL(bot.chain, (std::vector<std::string>{"alpha", "beta", "gamma-3"}));
  CAF_CHECK_EQUAL(bot.command, (std::vector<std::string>{"/usr/bin/python3", "/opt/bot.py", ""}));
  CAF_CHECK_EQUAL(bot.env.size(), 2u);
  CAF_CHECK_EQUAL(bot.env.at("BOT_MODE"), "poll");
  CAF_CHECK_EQUAL(bot.env.at("LOG_LEVEL"), "debug");
  CAF_CHECK_EQUAL(bot.stop_grace.count(), 5000);
  CAF_CHECK_EQUAL(bot.startup_delay.count(), 0);
  CAF_CHECK_EQUAL(bot.restart_min.count(), 250);
  CAF_CHECK_EQUAL(bot.restart_max.count(), 60000);
  auto& brain = cfg.duties[1];
  CAF_CHECK_EQUAL(brain.name, "brain");
  CAF_CHECK_EQUAL(brain.chain, (std::vector<std::string>{"gamma-3", "beta"}));
  CAF_CHECK_EQUAL(cfg.log.level, "debug");
}

CAF_TEST(durations accept seconds as numbers and strings with a unit) {
  std::vector<std::pair<std::string, int64_t>> cases{
      {"1", 1000},          {"0.5", 500},       {"2.0", 2000},       {"\"250ms\"", 250},
      {"\"2s\"", 2000},     {"\"1.5s\"", 1500}, {"\"1m\"", 60000},   {"\"0.25m\"", 15000},
      {"\"1000ms\"", 1000}, {"0.002", 2},       {"86400", 86400000},
  };
  for (auto& [text, ms] : cases) {
    CAF_MESSAGE("interval = " << text);
    auto cfg = parse_config(with_rest("[probe]\ntimeout = \"1ms\"\ninterval = " + text + "\n"),
                            "test.toml");
    CAF_CHECK_EQUAL(cfg.probe.interval.count(), ms);
  }
}

CAF_TEST(bad durations name the file line and key) {
  std::vector<std::pair<std::string, std::string>> cases{
      {"\"abc\"", "'abc' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")"},
      {"\"5\"", "'5' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")"},
      {"\"2h\"", "'2h' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")"},
      {"\"-1s\"", "'-1s' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")"},
      {"\".5s\"", "'.5s' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")"},
      {"\"1.s\"", "'1.s' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")"},
      {"\"1e3ms\"", "'1e3ms' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")"},
      {"\"1 s\"", "'1 s' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")"},
      {"\"\"", "'' is not a duration (write e.g. \"250ms\", \"2s\", \"1.5s\", \"1m\")"},
      {"\"1.5ms\"", "must be a whole number of milliseconds"},
      {"0.0001", "must be a whole number of milliseconds"},
      {"-1", "must not be negative"},
      {"-0.5", "must not be negative"},
      {"0", "must be greater than zero"},
      {"\"0ms\"", "must be greater than zero"},
      {"nan", "must be a number of seconds, not nan"},
      {"inf", "must be at most 24h"},
      {"\"1441m\"", "must be at most 24h"},
      {"true", "expected a duration (seconds, or a string like \"250ms\"), got boolean"},
  };
  for (auto& [text, problem] : cases) {
    CAF_MESSAGE("interval = " << text);
    CAF_CHECK_EQUAL(error_of(with_rest("[probe]\ninterval = " + text + "\n")),
                    "test.toml:2: probe.interval: " + problem);
  }
  // Only the start-up delay may be zero: zero means "start at once".
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = \"true\"\nstop_grace = 0\n")),
                  "test.toml:3: duty.x.stop_grace: must be greater than zero");
}

CAF_TEST(a string command runs through the shell) {
  auto cfg = parse_config(with_rest("[duty.x]\ncommand = \"exec bot --token-file /run/t\"\n"),
                          "test.toml");
  CAF_REQUIRE_EQUAL(cfg.duties.size(), 2u);
  CAF_CHECK_EQUAL(cfg.duties[0].name, "x");
  CAF_CHECK_EQUAL(cfg.duties[0].command,
                  (std::vector<std::string>{"/bin/sh", "-c", "exec bot --token-file /run/t"}));
}

CAF_TEST(malformed toml reports file line and column) {
  CAF_CHECK_EQUAL(error_of("[probe]\ninterval = \n"),
                  "test.toml:2:12: Error while parsing key-value pair: expected value, saw '\\n'");
  CAF_CHECK_EQUAL(error_of("[probe\n"),
                  "test.toml:1:7: Error while parsing table header: expected ']', saw '\\n'");
}

CAF_TEST(a wrong type names the key and both types) {
  CAF_CHECK_EQUAL(error_of(with_rest("[probe]\nrise = \"3\"\n")),
                  "test.toml:2: probe.rise: expected an integer, got string");
  CAF_CHECK_EQUAL(error_of(with_rest("probe = 5\n")),
                  "test.toml:1: probe: expected a table, got integer");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = 7\n")),
                  "test.toml:2: duty.x.command: expected an array of strings (argv) or a string "
                  "(run by /bin/sh -c), got integer");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = [\"/bin/x\", 1]\n")),
                  "test.toml:2: duty.x.command[1]: expected a string, got integer");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = \"x\"\nenv = { A = 1 }\n")),
                  "test.toml:3: duty.x.env.A: expected a string, got integer");
}

CAF_TEST(an unknown key lists the known ones) {
  CAF_CHECK_EQUAL(error_of(with_rest("[probe]\ninterval = 1\nintervall = 2\n")),
                  "test.toml:3: probe.intervall: unknown key (known: interval, timeout, retry, "
                  "checks, rise, fall)");
  CAF_CHECK_EQUAL(error_of(with_rest("[prbe]\n")),
                  "test.toml:1: prbe: unknown key (known: cluster, probe, channel, duty, tls, "
                  "breath, log, status, state, shell)");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = \"x\"\nstop-grace = 1\n")),
                  "test.toml:3: duty.x.stop-grace: unknown key (known: chain, command, env, "
                  "stop_grace, startup_delay, restart_min, restart_max)");
}

CAF_TEST(a chain may only name configured nodes once each) {
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.brain]\nchain = [\"a\", \"x\"]\ncommand = \"x\"\n")),
                  "test.toml:2: duty.brain.chain[1]: unknown node 'x' (known: a, b)");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.brain]\nchain = [\"b\", \"b\"]\ncommand = \"x\"\n")),
                  "test.toml:2: duty.brain.chain[1]: node 'b' appears twice");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.brain]\nchain = []\ncommand = \"x\"\n")),
                  "test.toml:2: duty.brain.chain: must name at least one node");
}

CAF_TEST(node names and endpoints are unique) {
  CAF_CHECK_EQUAL(error_of(R"([[cluster.nodes]]
name = "a"
host = "127.0.0.1"

[[cluster.nodes]]
name = "a"
host = "127.0.0.2"

[duty.bot]
command = "x"
)"),
                  "test.toml:6: cluster.nodes[1].name: duplicate node 'a' (already "
                  "cluster.nodes[0])");
  CAF_CHECK_EQUAL(error_of(R"([[cluster.nodes]]
name = "a"
host = "127.0.0.1"

[[cluster.nodes]]
name = "b"
host = "127.0.0.1"

[duty.bot]
command = "x"
)"),
                  "test.toml:7: cluster.nodes[1].host: 127.0.0.1:19333 is already used by node "
                  "'a'");
}

CAF_TEST(timeouts must stay below their intervals) {
  CAF_CHECK_EQUAL(error_of(with_rest("[probe]\ninterval = \"1s\"\ntimeout = \"1s\"\n")),
                  "test.toml:3: probe.timeout: 1s must be less than probe.interval (1s)");
  // With only the interval in the file, the default timeout (500ms) is blamed on the interval.
  CAF_CHECK_EQUAL(error_of(with_rest("[probe]\ninterval = \"400ms\"\n")),
                  "test.toml:2: probe.interval: 400ms must be greater than probe.timeout (500ms)");
  CAF_CHECK_EQUAL(error_of(with_rest("[channel]\nheartbeat_interval = 2\n")),
                  "test.toml:2: channel.heartbeat_interval: 2s must be less than "
                  "channel.connection_timeout (1500ms)");
  CAF_CHECK_EQUAL(error_of(with_rest("[channel]\nreconnect_max = \"50ms\"\n")),
                  "test.toml:2: channel.reconnect_max: 50ms must be at least channel.reconnect_min "
                  "(100ms)");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = \"x\"\nrestart_min = \"1m\"\n")),
                  "test.toml:3: duty.x.restart_min: 60s must be at most duty.x.restart_max (30s)");
}

CAF_TEST(a command must not be empty) {
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = []\n")),
                  "test.toml:2: duty.x.command: must not be empty");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = \" \"\n")),
                  "test.toml:2: duty.x.command: must not be empty");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = [\"\", \"arg\"]\n")),
                  "test.toml:2: duty.x.command[0]: must not be empty");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\nchain = [\"a\"]\n")),
                  "test.toml:1: duty.x.command: missing required key");
}

CAF_TEST(nodes and duties are required) {
  CAF_CHECK_EQUAL(error_of("[duty.bot]\ncommand = \"x\"\n"),
                  "test.toml: cluster: missing required key");
  CAF_CHECK_EQUAL(error_of("[cluster]\nport = 1\n[duty.bot]\ncommand = \"x\"\n"),
                  "test.toml:1: cluster.nodes: missing required key");
  CAF_CHECK_EQUAL(error_of("cluster.nodes = []\n"),
                  "test.toml:1: cluster.nodes: at least one node is required");
  CAF_CHECK_EQUAL(error_of("[[cluster.nodes]]\nname = \"a\"\nhost = \"h\"\n"),
                  "test.toml: duty: missing required key");
  CAF_CHECK_EQUAL(error_of("duty = {}\n[[cluster.nodes]]\nname = \"a\"\nhost = \"h\"\n"),
                  "test.toml:1: duty: at least one duty is required ([duty.<name>])");
  CAF_CHECK_EQUAL(error_of(with_rest("[[cluster.nodes]]\nhost = \"h\"\n")),
                  "test.toml:1: cluster.nodes[0].name: missing required key");
}

CAF_TEST(values outside their domain are refused) {
  CAF_CHECK_EQUAL(error_of(with_rest("[cluster]\nport = 0\n")),
                  "test.toml:2: cluster.port: 0 is out of range 1..65535");
  CAF_CHECK_EQUAL(error_of(with_rest("[[cluster.nodes]]\nname = \"c\"\nhost = \"h\"\nport = "
                                     "65536\n")),
                  "test.toml:4: cluster.nodes[0].port: 65536 is out of range 1..65535");
  CAF_CHECK_EQUAL(error_of(with_rest("[[cluster.nodes]]\nname = \"Moscow\"\nhost = \"h\"\n")),
                  "test.toml:2: cluster.nodes[0].name: 'Moscow' must consist of a-z, 0-9 and '-'");
  CAF_CHECK_EQUAL(error_of(with_rest("[probe]\nrise = 0\n")),
                  "test.toml:2: probe.rise: 0 is out of range 1..100");
  CAF_CHECK_EQUAL(error_of(with_rest("[probe]\nchecks = \"icmp\"\n")),
                  "test.toml:2: probe.checks: 'icmp' is not one of: service, host");
  CAF_CHECK_EQUAL(error_of(with_rest("[log]\nlevel = \"verbose\"\n")),
                  "test.toml:2: log.level: 'verbose' is not one of: trace, debug, info, warn, "
                  "error, off");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.Bot2]\ncommand = \"x\"\n")),
                  "test.toml:1: duty.Bot2: duty name must consist of a-z, 0-9 and '-'");
  CAF_CHECK_EQUAL(error_of(with_rest("[duty.x]\ncommand = \"x\"\nenv = { \"A=B\" = \"1\" }\n")),
                  "test.toml:3: duty.x.env.A=B: not a valid environment variable name");
}

CAF_TEST(control characters in the input cannot split an error line) {
  CAF_CHECK_EQUAL(error_of(with_rest("[probe]\n\"a\\nb\" = 1\n")),
                  "test.toml:2: probe.a\\nb: unknown key (known: interval, timeout, retry, checks, "
                  "rise, fall)");
}

CAF_TEST(load_config_file names the file in errors) {
  temp_dir dir;
  auto good = dir.write("good.toml", std::string{default_config_text()});
  CAF_CHECK_EQUAL(load_config_file(good).nodes.size(), 5u);
  auto bad = dir.write("bad.toml", with_rest("[probe]\ntimeout = \"2s\"\n"));
  try {
    load_config_file(bad);
    CAF_FAIL("no error for " << bad);
  } catch (const config_error& e) {
    CAF_CHECK_EQUAL(e.what(), bad + ":2: probe.timeout: 2s must be less than probe.interval (1s)");
  }
  auto missing = dir.path("missing.toml");
  try {
    load_config_file(missing);
    CAF_FAIL("no error for " << missing);
  } catch (const config_error& e) {
    CAF_CHECK_EQUAL(e.what(), missing + ": cannot open: No such file or directory");
  }
}

CAF_TEST(config looks nodes up by name) {
  auto cfg = parse_config(default_config_text(), "<default>");
  CAF_REQUIRE(cfg.find_node("spb") != nullptr);
  CAF_CHECK_EQUAL(cfg.find_node("spb")->host, "188.225.58.98");
  CAF_CHECK(cfg.find_node("berlin") == nullptr);
  CAF_CHECK_EQUAL(cfg.rank("amsterdam"), 0);
  CAF_CHECK_EQUAL(cfg.rank("novosibirsk"), 4);
  CAF_CHECK_EQUAL(cfg.rank("berlin"), -1);
  CAF_CHECK_EQUAL(cfg.node_names(), "amsterdam, moscow, almaty, spb, novosibirsk");
}

CAF_TEST(the node name comes from the flag or the environment and never defaults) {
  auto cfg = parse_config(default_config_text(), "<default>");
  auto error = [&](const std::optional<std::string>& flag) -> std::string {
    try {
      resolve_node_name(cfg, flag);
    } catch (const config_error& e) {
      return e.what();
    }
    CAF_FAIL("no error");
  };
  node_env env;
  env.unset();
  CAF_CHECK_EQUAL(resolve_node_name(cfg, "spb"s), "spb");
  CAF_CHECK_EQUAL(error(std::nullopt), "node name not set: pass --node NAME or set "
                                       "MONTANA_NODE_NAME (known: amsterdam, moscow, almaty, spb, "
                                       "novosibirsk)");
  CAF_CHECK_EQUAL(error("berlin"s),
                  "unknown node 'berlin' (known: amsterdam, moscow, almaty, spb, novosibirsk)");
  env.set("almaty");
  CAF_CHECK_EQUAL(resolve_node_name(cfg, std::nullopt), "almaty");
  CAF_CHECK_EQUAL(resolve_node_name(cfg, "moscow"s), "moscow");
  env.set("Amsterdam");
  CAF_CHECK_EQUAL(error(std::nullopt),
                  "unknown node 'Amsterdam' (known: amsterdam, moscow, almaty, spb, novosibirsk)");
  // An empty value, as `Environment=MONTANA_NODE_NAME=` gives, is no name at all.
  env.set("");
  CAF_CHECK(error(std::nullopt).starts_with("node name not set:"));
  CAF_CHECK(error(""s).starts_with("node name not set:"));
}

CAF_TEST(the tls table sets the identity files and node placeholders expand) {
  auto cfg = parse_config(with_rest("[tls]\nkey = \"/keys/{node}.key\"\ncertificates = \"/certs\"\n"
                                    "registry = \"/reg/nodes.json\"\n"),
                          "test.toml");
  CAF_CHECK_EQUAL(expand_node(cfg.tls.key, "alpha"), "/keys/alpha.key");
  CAF_CHECK_EQUAL(cfg.tls.certificates, "/certs");
  CAF_CHECK_EQUAL(cfg.tls.registry, "/reg/nodes.json");
  // The channel is always TLS: the old switch is an unknown key.
  CAF_CHECK(error_of(with_rest("[tls]\nenabled = false\n")).find("tls.enabled: unknown key") !=
            std::string::npos);
}

CAF_TEST(the shell table sets the socket and the channel table its limits) {
  auto cfg = parse_config(with_rest("[shell]\nsocket = \"/run/x/{node}.sock\"\n[channel]\n"
                                    "handshake_timeout = \"2s\"\nmax_handshakes = 10\n"
                                    "max_handshakes_per_host = 3\n"),
                          "test.toml");
  CAF_CHECK_EQUAL(expand_node(cfg.shell.socket, "alpha"), "/run/x/alpha.sock");
  CAF_CHECK_EQUAL(cfg.channel.handshake_timeout.count(), 2000);
  CAF_CHECK_EQUAL(cfg.channel.max_handshakes, 10);
  CAF_CHECK_EQUAL(cfg.channel.max_handshakes_per_host, 3);
  CAF_CHECK(error_of(with_rest("[channel]\nmax_handshakes = 0\n")).find("max_handshakes") !=
            std::string::npos);
  CAF_CHECK_EQUAL(parse_config(with_rest(""), "test.toml").shell.socket,
                  "/run/montana/{node}.sock");
}

CAF_TEST(the breath table sets every field and expands the node name) {
  auto cfg = parse_config(with_rest(R"([breath]
repo = "/var/lib/montana/{node}/repo"
remote = "upstream"
branch = "trunk"
interval = "5s"
paths = ["data/users.json", "extra/notes.txt"]
author_name = "montana {node}"
author_email = "{node}@example.org"
ssh_key = "/etc/montana/{node}.git-key"
ssh_user = "deploy"
token_user = "bot"
token_env = "MONTANA_GIT_TOKEN"
push_attempts = 5
step_timeout = "30s"
backoff_max = "10m"
history = 10
)"),
                          "breath.toml");
  auto b = breath_for(cfg, "b");
  CAF_CHECK_EQUAL(b.repo, "/var/lib/montana/b/repo");
  CAF_CHECK_EQUAL(b.remote, "upstream");
  CAF_CHECK_EQUAL(b.branch, "trunk");
  CAF_CHECK_EQUAL(b.interval.count(), 5000);
  CAF_CHECK_EQUAL(b.paths, (std::vector<std::string>{"data/users.json", "extra/notes.txt"}));
  CAF_CHECK_EQUAL(b.author_name, "montana b");
  CAF_CHECK_EQUAL(b.author_email, "b@example.org");
  CAF_CHECK_EQUAL(b.credentials.ssh_key, "/etc/montana/b.git-key");
  CAF_CHECK_EQUAL(b.credentials.ssh_user, "deploy");
  CAF_CHECK_EQUAL(b.credentials.token_user, "bot");
  CAF_CHECK_EQUAL(b.credentials.token_env, "MONTANA_GIT_TOKEN");
  CAF_CHECK_EQUAL(b.push_attempts, 5);
  CAF_CHECK_EQUAL(b.step_timeout.count(), 30000);
  CAF_CHECK_EQUAL(b.backoff_max.count(), 600000);
  CAF_CHECK_EQUAL(b.history, 10);
  // No [breath] (the default): no repository, so no breather, and the issue's defaults.
  auto plain = parse_config(with_rest(""), "plain.toml");
  CAF_CHECK(plain.breath.repo.empty());
  CAF_CHECK_EQUAL(plain.breath.interval.count(), 12000);
  CAF_CHECK_EQUAL(plain.breath.paths,
                  (std::vector<std::string>{"data/users.json", "node_crypto/nodes.json"}));
}

CAF_TEST(bad breath settings name the key) {
  CAF_CHECK_EQUAL(error_of(with_rest("[breath]\npaths = [\"../etc/passwd\"]\n")),
                  "test.toml:2: breath.paths[0]: '../etc/passwd' must be a relative path "
                  "inside the repository (no '..', no .git)");
  CAF_CHECK_EQUAL(error_of(with_rest("[breath]\npaths = [\"a\", \".git/config\"]\n")),
                  "test.toml:2: breath.paths[1]: '.git/config' must be a relative path "
                  "inside the repository (no '..', no .git)");
  CAF_CHECK_EQUAL(error_of(with_rest("[breath]\npaths = [\"a\", \"a\"]\n")),
                  "test.toml:2: breath.paths[1]: 'a' appears twice");
  CAF_CHECK_EQUAL(error_of(with_rest("[breath]\npaths = []\n")),
                  "test.toml:2: breath.paths: must not be empty");
  CAF_CHECK_EQUAL(
      error_of(with_rest("[breath]\ntoken_file = \"/t\"\ntoken_env = \"T\"\n")),
      "test.toml:3: breath.token_env: give the token either in token_file or in token_env, "
      "not both");
  CAF_CHECK_EQUAL(error_of(with_rest("[breath]\ninterval = \"1m\"\nbackoff_max = \"30s\"\n")),
                  "test.toml:2: breath.interval: 60s must be at most breath.backoff_max (30s)");
  CAF_CHECK(error_of(with_rest("[breath]\npassword = \"x\"\n"))
                .starts_with("test.toml:2: breath.password: unknown key (known: repo, remote"));
}

CAF_TEST(config_text writes what parse_config reads back) {
  auto cfg = parse_config(default_config_text(), "<default>");
  cfg.nodes[1].bind = "0.0.0.0";
  cfg.probe.checks = check_mode::host;
  cfg.probe.interval = duration{1500};
  cfg.duties[0].env = {{"TOKEN_FILE", "/etc/montana/\"quoted\"\\path"}, {"EMPTY", ""}};
  cfg.duties[0].startup_delay = duration{0};
  auto brain = cfg.duties[0];
  brain.name = "brain";
  brain.chain = {"moscow", "almaty"};
  brain.command = {"/bin/sh", "-c", "echo 'tab\there' \"and\" \\ newline\nend"};
  cfg.duties.push_back(brain);
  cfg.breath.repo = "/var/lib/montana/{node}/repo";
  cfg.breath.credentials.token_env = "MONTANA_GIT_TOKEN";
  cfg.status.host = "127.0.0.9";
  cfg.status.port = 9999;
  cfg.state.dir = "/tmp/state/{node}";
  cfg.log.level = "debug";
  auto text = config_text(cfg);
  auto again = parse_config(text, "<written>");
  CAF_CHECK_EQUAL(config_text(again), text);
  CAF_CHECK_EQUAL(again.nodes.size(), 5u);
  CAF_CHECK_EQUAL(again.nodes[1].bind, "0.0.0.0");
  CAF_CHECK(again.probe.checks == check_mode::host);
  CAF_CHECK_EQUAL(again.probe.interval.count(), 1500);
  CAF_REQUIRE_EQUAL(again.duties.size(), 2u);
  CAF_CHECK_EQUAL(again.duties[0].env["TOKEN_FILE"], "/etc/montana/\"quoted\"\\path");
  CAF_CHECK_EQUAL(again.duties[1].command, brain.command);
  CAF_CHECK_EQUAL(again.duties[1].chain, brain.chain);
  CAF_CHECK_EQUAL(again.breath.credentials.token_env, "MONTANA_GIT_TOKEN");
  CAF_CHECK_EQUAL(again.status.port, 9999);
  CAF_CHECK_EQUAL(again.state.dir, "/tmp/state/{node}");
  auto no_status = cfg;
  no_status.status = {};
  CAF_CHECK(!parse_config(config_text(no_status), "<written>").status.enabled);
}

CAF_TEST(a reload names what only a restart can change) {
  auto running = parse_config(default_config_text(), "<default>");
  auto fresh = running;
  fresh.log.level = "debug";
  fresh.probe.interval = duration{2000};
  fresh.duties[0].env["TOKEN"] = "x";
  fresh.duties[0].command = {"/bin/true"};
  fresh.duties[0].stop_grace = duration{1000};
  CAF_CHECK_EQUAL(changes_needing_restart(running, fresh), std::vector<std::string>{});
  // The probe's timeout is no longer the dial's: a reload applies it.
  fresh.probe.timeout = duration{600};
  CAF_CHECK_EQUAL(changes_needing_restart(running, fresh), std::vector<std::string>{});
  fresh.channel.heartbeat_interval = duration{700};
  fresh.nodes[4].host = "10.0.0.5";
  fresh.duties[0].chain = {"moscow", "amsterdam"};
  fresh.duties[0].startup_delay = duration{0};
  fresh.status = {};
  fresh.state.dir = "/srv";
  fresh.tls.key = "/other.key";
  fresh.breath.repo = "/srv/repo";
  fresh.shell.socket = "/srv/shell.sock";
  auto brain = fresh.duties[0];
  brain.name = "brain";
  fresh.duties.push_back(brain);
  CAF_CHECK_EQUAL(changes_needing_restart(running, fresh),
                  (std::vector<std::string>{"[[cluster.nodes]]", "[channel]", "[tls]", "[breath]",
                                            "[status]", "[state]", "[shell]", "duty bot: chain",
                                            "duty bot: startup_delay", "duty brain (new)"}));
  fresh.duties.erase(fresh.duties.begin());
  auto removed = changes_needing_restart(running, fresh);
  CAF_CHECK_EQUAL(removed.back(), "duty bot (removed)");
}
