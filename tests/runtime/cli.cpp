// Black-box tests of the real `montana-actors` binary: each test fork/execs it with its own
// arguments, environment and standard input, and checks exit code, stdout and stderr.
#define CAF_SUITE runtime.cli
#include "caf/test/dsl.hpp"

#include "runtime/identity.hpp"
#include "support/cluster.hpp"
#include "support/guard.hpp"
#include "support/process.hpp"

#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <optional>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* seed_names[] = {"amsterdam", "moscow", "almaty", "spb", "novosibirsk"};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

/// A line of the service's log: "YYYY-MM-DD hh:mm:ss.mmm level message".
bool is_log_line(const std::string& line) {
  return line.size() > 24 && std::isdigit(static_cast<unsigned char>(line[0])) && line[4] == '-' &&
         line[7] == '-' && line[10] == ' ' && line[13] == ':' && line[16] == ':' && line[19] == '.';
}

/// True while something accepts TCP connections on 127.0.0.1:`port`.
bool accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

/// A socket listening on `host`:`port` without SO_REUSEADDR or SO_REUSEPORT; -1 on failure.
int listen_on(const std::string& host, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// A port that is free on each of 127.0.0.1-5 right now (the demo binds all five).
uint16_t free_demo_port() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto port = free_port("127.0.0.1");
    std::vector<int> held;
    for (int i = 1; i <= 5; ++i) {
      int fd = listen_on("127.0.0." + std::to_string(i), port);
      if (fd < 0)
        break;
      held.push_back(fd);
    }
    for (int fd : held)
      ::close(fd);
    if (held.size() == 5)
      return port;
  }
  GUARD_FAIL("no port free on all of 127.0.0.1-5");
}

struct fixture : scratch {
  fixture() : scratch{"cli"} {}

  /// A one-node cluster "solo" on `host`:`port` whose duty runs `command` (a TOML value).
  std::string solo_config(const std::string& host, uint16_t port, const std::string& command,
                          const std::string& level = "info") {
    return write(
        "solo.toml",
        with_private_files("[cluster]\nport = " + std::to_string(port) +
                               "\n\n[[cluster.nodes]]\nname = \"solo\"\nhost = \"" + host +
                               "\"\n\n[duty.bot]\ncommand = " + command +
                               "\nstartup_delay = \"0s\"\nstop_grace = \"2s\"\n\n[log]\nlevel "
                               "= \"" +
                               level + "\"\n",
                           dir + "/identities"));
  }

  /// Runs the binary to its end (at most `timeout`) and requires that it ended.
  int run_to_end(process& p, std::chrono::milliseconds timeout = 10s) {
    auto code = p.wait(timeout);
    if (!code)
      GUARD_FAIL("montana-actors still runs after " << timeout.count()
                                                    << " ms; stderr: " << p.err());
    return *code;
  }
};

/// A valid configuration; the line numbers matter to the tests of malformed variants.
const std::string valid_config = R"([cluster]
port = 29333

[[cluster.nodes]]
name = "alpha"
host = "127.0.0.1"

[[cluster.nodes]]
name = "beta"
host = "127.0.0.2"

[duty.bot]
chain = ["alpha", "beta"]
command = ["/bin/true"]
)";

} // namespace

CAF_TEST_FIXTURE_SCOPE(cli_tests, fixture)

CAF_TEST(version prints the name and version and exits 0) {
  process p{dir, {"--version"}};
  CAF_CHECK_EQUAL(run_to_end(p), 0);
  CAF_CHECK_EQUAL(p.out(), std::string{"montana-actors "} + MONTANA_VERSION + "\n");
  CAF_CHECK_EQUAL(p.err(), "");
}

CAF_TEST(help lists the subcommands and the exit codes and exits 0) {
  process p{dir, {"--help"}};
  CAF_CHECK_EQUAL(run_to_end(p), 0);
  auto out = p.out();
  for (std::string sub : {"run", "demo", "check-config"}) {
    bool listed = false;
    // CLI11 lists a subcommand as an indented line starting with its name.
    for (const auto& line : lines_of(out)) {
      auto start = line.find_first_not_of(' ');
      if (start > 0 && start != std::string::npos && line.compare(start, sub.size(), sub) == 0 &&
          (line.size() == start + sub.size() || line[start + sub.size()] == ' '))
        listed = true;
    }
    CAF_CHECK(listed);
    if (!listed)
      CAF_MESSAGE("subcommand " << sub << " missing from:\n" << out);
  }
  CAF_CHECK(contains(out, "exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration"));
}

CAF_TEST(no subcommand is a usage error) {
  process p{dir, {}};
  CAF_CHECK_EQUAL(run_to_end(p), 2);
  CAF_CHECK_NOT_EQUAL(p.err(), "");
}

CAF_TEST(an unknown option or subcommand is a usage error) {
  process option{dir, {"--no-such-option"}};
  CAF_CHECK_EQUAL(run_to_end(option), 2);
  process run_option{dir, {"run", "--no-such-option"}};
  CAF_CHECK_EQUAL(run_to_end(run_option), 2);
  process sub{dir, {"frobnicate"}};
  CAF_CHECK_EQUAL(run_to_end(sub), 2);
}

CAF_TEST(check config of a valid file prints one summary line and exits 0) {
  auto path = write("valid.toml", valid_config);
  process p{dir, {"check-config", path}};
  CAF_CHECK_EQUAL(run_to_end(p), 0);
  CAF_CHECK_EQUAL(p.out(), path + ": ok: 2 nodes (alpha, beta), 1 duties\n");
  CAF_CHECK_EQUAL(p.err(), "");
}

CAF_TEST(check config with list prints the nodes in priority order) {
  auto path = write("valid.toml", valid_config);
  process p{dir, {"check-config", "--list", path}};
  CAF_CHECK_EQUAL(run_to_end(p), 0);
  CAF_CHECK_EQUAL(p.out(), "alpha 127.0.0.1 29333\nbeta 127.0.0.2 29333\n");
}

CAF_TEST(check config of malformed files prints one line with file line and key and exits 2) {
  struct variant {
    std::string name;
    std::string text;
    // What follows "montana-actors: <file>": the line (and column), and the key where known.
    std::string at;
    // Also in the message: the key, where the TOML lets it be known.
    std::string key;
  };
  auto replace = [](std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    GUARD_REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  const variant variants[] = {
      // Bad TOML: a key defined twice; toml++ names the line, the column and the key.
      {"duplicate.toml", replace(valid_config, "port = 29333", "port = 29333\nport = 1"),
       ":3:8:", "'port'"},
      {"unknown-key.toml", replace(valid_config, "host = \"127.0.0.2\"", "hots = \"127.0.0.2\""),
       ":10: cluster.nodes[1].hots: unknown key", "hots"},
      {"unknown-node.toml",
       replace(valid_config, "[\"alpha\", \"beta\"]", "[\"alpha\", \"berln\"]"),
       ":13: duty.bot.chain[1]: unknown node 'berln' (known: alpha, beta)", "chain"},
      // Bad TOML where no key can be named (docs/configuration.md): file, line and column.
      {"syntax.toml", replace(valid_config, "port = 29333", "port = = 29333"), ":2:8:", ": Error"},
  };
  for (const auto& v : variants) {
    CAF_MESSAGE(v.name);
    auto path = write(v.name, v.text);
    process p{dir, {"check-config", path}};
    CAF_CHECK_EQUAL(run_to_end(p), 2);
    CAF_CHECK_EQUAL(p.out(), "");
    auto err = p.err();
    auto lines = lines_of(err);
    CAF_CHECK_EQUAL(lines.size(), 1u);
    CAF_CHECK(!err.empty() && err.back() == '\n');
    auto located = err.rfind("montana-actors: " + path + v.at, 0) == 0;
    CAF_CHECK(located);
    CAF_CHECK(contains(err, v.key));
    if (lines.size() != 1 || !located || !contains(err, v.key))
      CAF_MESSAGE("stderr: " << err);
  }
}

CAF_TEST(check config of a missing file prints one line naming it and exits 2) {
  auto path = dir + "/no-such.toml";
  process p{dir, {"check-config", path}};
  CAF_CHECK_EQUAL(run_to_end(p), 2);
  CAF_CHECK_EQUAL(p.out(), "");
  CAF_CHECK_EQUAL(p.err(),
                  "montana-actors: " + path + ": cannot open: No such file or directory\n");
}

CAF_TEST(run with an unknown node fails fast naming it and the known nodes) {
  process p{dir, {"run", "--node", "nosuch"}, {"MONTANA_NODE_NAME"}};
  CAF_CHECK_EQUAL(run_to_end(p), 2);
  CAF_CHECK_LESS(p.run_time().count(), 2000);
  auto err = p.err();
  CAF_CHECK_EQUAL(lines_of(err).size(), 1u);
  CAF_CHECK(contains(err, "'nosuch'"));
  for (const char* name : seed_names)
    CAF_CHECK(contains(err, name));
  CAF_CHECK_EQUAL(p.out(), "");
}

CAF_TEST(run without a node name fails fast naming MONTANA_NODE_NAME) {
  // Unset, and set but empty (which counts as not set).
  for (std::string env : {"MONTANA_NODE_NAME", "MONTANA_NODE_NAME="}) {
    CAF_MESSAGE("env: " << env);
    process p{dir, {"run"}, {env}};
    CAF_CHECK_EQUAL(run_to_end(p), 2);
    CAF_CHECK_LESS(p.run_time().count(), 2000);
    auto err = p.err();
    CAF_CHECK_EQUAL(lines_of(err).size(), 1u);
    CAF_CHECK(contains(err, "MONTANA_NODE_NAME"));
    CAF_CHECK(contains(err, "--node"));
  }
}

CAF_TEST(run with MONTANA_NODE_NAME naming no node fails fast) {
  process p{dir, {"run"}, {"MONTANA_NODE_NAME=nosuch"}};
  CAF_CHECK_EQUAL(run_to_end(p), 2);
  CAF_CHECK_LESS(p.run_time().count(), 2000);
  auto err = p.err();
  CAF_CHECK_EQUAL(lines_of(err).size(), 1u);
  CAF_CHECK(contains(err, "unknown node 'nosuch'"));
}

CAF_TEST(run starts the service and a TERM signal ends it and its duty with exit 0) {
  auto port = free_port("127.0.0.1");
  auto pid_file = dir + "/duty.pid";
  auto cfg = solo_config("127.0.0.1", port,
                         "[\"/bin/sh\", \"-c\", \"echo $$ > " + pid_file + ".tmp && mv " +
                             pid_file + ".tmp " + pid_file + "; echo started; exec sleep 60\"]");
  process p{dir, {"run", "--config", cfg, "--node", "solo"}, {"MONTANA_NODE_NAME"}};
  GUARD_REQUIRE(wait_until([&] { return accepts(port) || p.wait(0ms); }, 15s));
  GUARD_REQUIRE(!p.wait(0ms));
  CAF_MESSAGE("the service accepts connections on port " << port);
  int duty_pid = 0;
  auto duty_started = wait_until(
      [&] {
        std::ifstream in{pid_file};
        return static_cast<bool>(in >> duty_pid);
      },
      15s);
  if (!duty_started)
    GUARD_FAIL("the duty never started; stderr: " << p.err());
  CAF_CHECK(pid_alive(duty_pid));
  GUARD_REQUIRE(::kill(p.pid(), SIGTERM) == 0);
  auto code = p.wait(10s);
  GUARD_REQUIRE(code.has_value());
  CAF_CHECK_EQUAL(*code, 0);
  // The service reaps its duty before it exits.
  auto duty_gone = !pid_alive(duty_pid);
  CAF_CHECK(duty_gone);
  if (!duty_gone) {
    ::kill(duty_pid, SIGKILL);
    CAF_MESSAGE("stderr: " << p.err());
  }
}

CAF_TEST(run reloads its configuration on a HUP signal and says what needs a restart) {
  auto port = free_port("127.0.0.1");
  auto cfg = solo_config("127.0.0.1", port, "\"echo started; exec sleep 60\"");
  process p{dir, {"run", "--config", cfg, "--node", "solo"}, {"MONTANA_NODE_NAME"}};
  GUARD_REQUIRE(wait_until([&] { return contains(p.err(), "started pid"); }, 15s));
  // A new log level and duty environment apply; a new heartbeat needs a restart.
  auto text = read_file(cfg);
  auto edited = text;
  edited.replace(edited.find("level = \"info\""), 14, "level = \"debug\"");
  edited.replace(edited.find("[duty.bot]\n"), 11, "[duty.bot]\nenv = { GREETING = \"hello\" }\n");
  edited += "\n[channel]\nheartbeat_interval = \"300ms\"\n";
  GUARD_REQUIRE(write_file(cfg, edited));
  GUARD_REQUIRE(::kill(p.pid(), SIGHUP) == 0);
  CAF_CHECK(wait_until(
      [&] {
        return contains(p.err(),
                        "configuration reloaded: log level debug, duty bot (its next process)");
      },
      10s));
  CAF_CHECK(contains(p.err(), "reload: [channel] changed: takes effect at the next restart"));
  // A broken file changes nothing and costs one line.
  GUARD_REQUIRE(write_file(cfg, edited + "\n[probe]\nintervall = 1\n"));
  GUARD_REQUIRE(::kill(p.pid(), SIGHUP) == 0);
  CAF_CHECK(wait_until(
      [&] { return contains(p.err(), "reload failed, the running configuration stays: "); }, 10s));
  CAF_CHECK(contains(p.err(), "probe.intervall: unknown key"));
  CAF_CHECK(!p.wait(200ms));
  GUARD_REQUIRE(::kill(p.pid(), SIGTERM) == 0);
  auto code = p.wait(15s);
  GUARD_REQUIRE(code.has_value());
  CAF_CHECK_EQUAL(*code, 0);
}

CAF_TEST(run exits 1 with one error line when the port is taken) {
  auto port = free_port("127.0.0.1");
  // No SO_REUSEADDR or SO_REUSEPORT here: CAF's SO_REUSEADDR cannot share a listening port.
  int holder = listen_on("127.0.0.1", port);
  GUARD_REQUIRE(holder != -1);
  auto cfg = solo_config("127.0.0.1", port, "[\"/bin/sleep\", \"60\"]");
  process p{dir, {"run", "--config", cfg, "--node", "solo"}};
  auto code = p.wait(10s);
  ::close(holder);
  GUARD_REQUIRE(code.has_value());
  CAF_CHECK_EQUAL(*code, 1);
  // At the default level "info" the log (stderr too) may have lines of its own: exactly one
  // line is not a log line, and it is the error.
  auto err = p.err();
  std::vector<std::string> errors;
  for (const auto& line : lines_of(err))
    if (!is_log_line(line))
      errors.push_back(line);
  CAF_CHECK_EQUAL(errors.size(), 1u);
  GUARD_REQUIRE(!errors.empty());
  CAF_CHECK_EQUAL(
      errors[0].rfind("montana-actors: cannot listen on 127.0.0.1:" + std::to_string(port) + ": ",
                      0),
      0u);
  CAF_CHECK_EQUAL(p.out(), "");
}

CAF_TEST(run exits 1 with one line when the address is not local) {
  // 192.0.2.0/24 is TEST-NET-1: assigned to no interface here, so bind fails at once. The log
  // level "warn" keeps info lines out: stderr is the error alone.
  auto port = free_port("127.0.0.1");
  auto cfg = solo_config("192.0.2.1", port, "[\"/bin/sleep\", \"60\"]", "warn");
  process p{dir, {"run", "--config", cfg, "--node", "solo"}};
  CAF_CHECK_EQUAL(run_to_end(p), 1);
  auto err = p.err();
  CAF_CHECK_EQUAL(lines_of(err).size(), 1u);
  CAF_CHECK(contains(err, "montana-actors: cannot listen on 192.0.2.1:" + std::to_string(port)));
  CAF_CHECK_EQUAL(p.out(), "");
}

CAF_TEST(demo answers status for the five nodes and quits with 0) {
  auto port = free_demo_port();
  process p{dir, {"demo", "--port", std::to_string(port)}, {}, "status\nquit\n"};
  CAF_CHECK_EQUAL(run_to_end(p, 30s), 0);
  auto out = p.out();
  for (const char* name : seed_names) {
    // Each node's chain-leader answered: "  <node>: demo <role> (term <n>) ".
    auto listed = contains(out, std::string{"  "} + name + ": demo ");
    CAF_CHECK(listed);
    if (!listed)
      CAF_MESSAGE(name << " missing from:\n" << out);
  }
  CAF_CHECK(!contains(out, "demo ? ("));
  CAF_CHECK(contains(out, "stopping"));
}

CAF_TEST(run refuses to start without a usable identity and names the file) {
  auto port = free_port("127.0.0.1");
  auto cfg = solo_config("127.0.0.1", port, "[\"/bin/sleep\", \"60\"]", "warn");
  auto key = dir + "/identities/solo.key";
  // A missing key, then a key that belongs to another certificate.
  std::filesystem::rename(key, key + ".away");
  {
    process p{dir, {"run", "--config", cfg, "--node", "solo"}};
    CAF_CHECK_EQUAL(run_to_end(p), 2);
    auto err = p.err();
    CAF_CHECK_EQUAL(lines_of(err).size(), 1u);
    CAF_CHECK(contains(err, key));
    CAF_CHECK(!accepts(port));
  }
  auto other = create_identity("other", dir + "/elsewhere");
  std::filesystem::copy_file(other.files.key_path, key);
  {
    process p{dir, {"run", "--config", cfg, "--node", "solo"}};
    CAF_CHECK_EQUAL(run_to_end(p), 2);
    auto err = p.err();
    CAF_CHECK_EQUAL(lines_of(err).size(), 1u);
    CAF_CHECK(contains(err, key));
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
