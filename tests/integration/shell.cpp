// The operator's shell, the real binary, against five in-process nodes through their shell
// sockets: scripted commands with --json parsed, an interactive session under a pseudo-terminal,
// step-down and resume moving the duty with zero overlap, users the socket refuses, and the
// [status] HTTP endpoint scraped and fed bad requests.
#define CAF_SUITE integration.shell
#include "caf/test/dsl.hpp"

#include "support/cluster.hpp"
#include "support/files.hpp"
#include "support/git_cli.hpp"
#include "support/guard.hpp"
#include "support/process.hpp"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <array>
#include <regex>
#include <set>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const auto settle = 15s;

/// What one run of the shell printed.
struct run_result {
  int code = -1;
  std::string out;
  std::string err;
};

/// Five nodes and the configuration file the shell reads (with each node's shell socket).
struct fixture {
  cluster c;
  std::string config_file;

  explicit fixture(const std::function<void(cluster&)>& before_start = {}) {
    live_dir = c.dir();
    config_file = c.write_config_file();
    if (before_start)
      before_start(c);
    c.start_all();
    GUARD_REQUIRE(c.wait_for_holder("amsterdam", settle));
  }

  ~fixture() { live_dir.clear(); }

  run_result shell(std::vector<std::string> args, const std::string& node = "amsterdam",
                   std::chrono::milliseconds timeout = 60s) {
    std::vector<std::string> all{"shell", "--config", config_file};
    if (!node.empty()) {
      all.push_back("--node");
      all.push_back(node);
    }
    all.insert(all.end(), args.begin(), args.end());
    process p{c.dir(), all};
    run_result r;
    auto code = p.wait(timeout);
    GUARD_REQUIRE(code.has_value());
    r.code = *code;
    r.out = p.out();
    r.err = p.err();
    return r;
  }

  json shell_json(std::vector<std::string> args, const std::string& node = "amsterdam") {
    args.insert(args.begin(), "--json");
    auto r = shell(args, node);
    if (r.code != 0)
      GUARD_FAIL("shell " << args[1] << " failed (" << r.code << "): " << r.err);
    return json::parse(r.out);
  }

  /// The pid of the duty process `name` runs now (0: none).
  int duty_pid(const std::string& name) {
    for (const auto& r : c.records())
      if (r.what == "start" && r.node == name && pid_alive(r.pid))
        return r.pid;
    return 0;
  }
};

bool all_alive(const json& status) {
  for (const auto& p : status["peers"])
    if (p["verdict"] != "alive")
      return false;
  return status["peers"].size() == 4;
}

// --- a pseudo-terminal ---------------------------------------------------------------------------

/// The shell on a pseudo-terminal, read like a screen (escape sequences removed).
class terminal {
public:
  explicit terminal(std::vector<std::string> args, std::vector<std::string> env) {
    std::vector<std::string> argv_text{MONTANA_BINARY_PATH};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : env)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    winsize size{24, 100, 0, 0};
    pid_ = ::forkpty(&fd_, nullptr, nullptr, &size);
    if (pid_ == 0) {
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    GUARD_REQUIRE(pid_ > 0);
    live_children.push_back(pid_);
  }

  ~terminal() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::erase(live_children, pid_);
    ::close(fd_);
  }

  /// Types `keys` a moment after the last prompt: libedit flushes the terminal's input when it
  /// switches it to raw mode for the next line, so keys typed at once could be lost.
  void type(const std::string& keys) {
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    GUARD_REQUIRE(::write(fd_, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size()));
  }

  /// Reads until the screen (since the last await_text) shows `text`; false after `timeout`.
  bool await_text(const std::string& text, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto shown = screen_.find(text, seen_);
      if (shown != std::string::npos) {
        seen_ = shown + text.size();
        return true;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char buf[4096];
      auto n = ::read(fd_, buf, sizeof buf);
      if (n <= 0)
        return false;
      screen_ += strip(std::string(buf, static_cast<size_t>(n)));
    }
  }

  /// The exit code once the shell ended within `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    int status = 0;
    std::array<char, 4096> drain;
    auto done = wait_until(
        [&] {
          // Keep reading, or a full terminal buffer blocks the child's output.
          pollfd p{fd_, POLLIN, 0};
          if (::poll(&p, 1, 0) > 0) [[maybe_unused]]
            auto n = ::read(fd_, drain.data(), drain.size());
          return ::waitpid(pid_, &status, WNOHANG) == pid_;
        },
        timeout);
    if (!done)
      return std::nullopt;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  const std::string& screen() const { return screen_; }

private:
  /// The text without terminal control sequences (CSI ... final byte) and carriage returns.
  static std::string strip(const std::string& raw) {
    static const std::regex control{"\x1b\\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]|\r"};
    return std::regex_replace(raw, control, "");
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  std::string screen_;
  size_t seen_ = 0;
};

// --- HTTP ----------------------------------------------------------------------------------------

/// Sends `request` to host:port and reads until the server closes (at most `timeout`).
std::string http(const std::string& host, uint16_t port, const std::string& request,
                 std::chrono::milliseconds timeout = 10s) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  [[maybe_unused]] auto sent = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    char buf[8192];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

int status_code(const std::string& response) {
  if (response.size() < 12 || response.rfind("HTTP/1.1 ", 0) != 0)
    return 0;
  return std::atoi(response.c_str() + 9);
}

std::string body(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string{} : response.substr(at + 4);
}

/// The samples of a Prometheus text exposition, "name{labels}" -> value; checks the grammar
/// on the way (every sample's family announced by HELP and TYPE first).
std::map<std::string, double> parse_metrics(const std::string& text, std::string& problem) {
  static const std::regex sample{
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)$)"};
  static const std::regex help{R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)"};
  static const std::regex type{R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|histogram)$)"};
  std::map<std::string, double> out;
  std::set<std::string> helped;
  std::map<std::string, std::string> typed;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      helped.insert(m[1]);
    } else if (std::regex_match(line, m, type)) {
      if (!helped.count(m[1]))
        problem += "TYPE before HELP: " + line + "\n";
      typed[m[1]] = m[2];
    } else if (std::regex_match(line, m, sample)) {
      std::string name = m[1];
      auto family = name;
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (family.ends_with(suffix) &&
            typed.count(family.substr(0, family.size() - std::strlen(suffix))))
          family = family.substr(0, family.size() - std::strlen(suffix));
      if (!typed.count(family))
        problem += "sample without TYPE: " + line + "\n";
      out[line.substr(0, line.rfind(' '))] = std::stod(m[5]);
    } else {
      problem += "not the exposition format: " + line + "\n";
    }
  }
  return out;
}

} // namespace

CAF_TEST(scripted commands print what the nodes know and json that parses) {
  fixture f;
  GUARD_REQUIRE(wait_until([&] { return all_alive(f.shell_json({"status"})); }, settle));
  auto status = f.shell_json({"status"});
  CAF_CHECK_EQUAL(status["node"], "amsterdam");
  CAF_CHECK_EQUAL(status["duties"][0]["duty"], "bot");
  CAF_CHECK_EQUAL(status["duties"][0]["role"], "holder");
  CAF_CHECK_EQUAL(status["duties"][0]["process"]["pid"], f.duty_pid("amsterdam"));
  CAF_CHECK_EQUAL(status["links"].size(), 4u);
  for (const auto& l : status["links"])
    CAF_CHECK_EQUAL(l["linked"], true);

  auto views = f.shell_json({"cluster"}, "moscow");
  CAF_REQUIRE_EQUAL(views.size(), 5u);
  std::vector<std::string> holders;
  for (const auto& v : views) {
    CAF_CHECK_EQUAL(v["reachable"], true);
    if (v["status"]["duties"][0]["role"] == "holder")
      holders.push_back(v["node"]);
  }
  CAF_CHECK_EQUAL(holders, std::vector<std::string>{"amsterdam"});

  auto probes = f.shell_json({"probes"});
  CAF_CHECK_EQUAL(probes.size(), 4u);
  for (const auto& p : probes) {
    CAF_CHECK_EQUAL(p["verdict"], "alive");
    CAF_CHECK(!p["history"].empty());
  }
  auto one = f.shell_json({"probes", "spb"});
  CAF_REQUIRE_EQUAL(one.size(), 1u);
  CAF_CHECK_EQUAL(one[0]["node"], "spb");

  auto actors = f.shell_json({"actors"});
  std::multiset<std::string> kinds;
  for (const auto& a : actors)
    kinds.insert(a["kind"].get<std::string>());
  for (const auto* kind : {"inspector", "peer", "chain-leader", "bot-supervisor", "console"})
    CAF_CHECK_EQUAL(kinds.count(kind), 1u);
  CAF_CHECK_EQUAL(kinds.count("probe"), 4u);
  auto peer = f.shell_json({"actor", "amsterdam", "peer"});
  CAF_CHECK_EQUAL(peer["name"], "amsterdam peer");
  CAF_CHECK(peer["handled"].get<uint64_t>() > 0);

  auto duties = f.shell_json({"duty"});
  CAF_CHECK_EQUAL(duties[0]["process"]["phase"], "running");
  CAF_CHECK(duties[0]["process"]["starts"].get<int>() >= 1);

  auto log = f.shell(std::vector<std::string>{"--json", "log", "500"});
  CAF_CHECK_EQUAL(log.code, 0);
  CAF_CHECK(contains(log.out, "node up on"));
  CAF_CHECK(!contains(log.out, "[moscow] node up")); // another node's lines stay out

  auto breath = f.shell({"breath"});
  CAF_CHECK_EQUAL(breath.code, 1);
  CAF_CHECK(contains(breath.err, "does not breathe"));
  auto unknown = f.shell({"frobnicate"});
  CAF_CHECK_EQUAL(unknown.code, 2);
  CAF_CHECK(contains(unknown.err, "unknown command 'frobnicate'"));

  // Plain output fits 80 columns, and has no colour when stdout is no terminal.
  for (const auto& cmd : std::vector<std::vector<std::string>>{{"status"},
                                                               {"cluster"},
                                                               {"chain"},
                                                               {"probes"},
                                                               {"probes", "moscow"},
                                                               {"actors"},
                                                               {"actor", "leader"},
                                                               {"duty"},
                                                               {"help"}}) {
    auto r = f.shell(cmd);
    CAF_CHECK_EQUAL(r.code, 0);
    CAF_CHECK_LESS_OR_EQUAL(widest_line(r.out), 80u);
    CAF_CHECK(!contains(r.out, "\x1b["));
    if (r.code != 0 || widest_line(r.out) > 80)
      CAF_MESSAGE(cmd[0] << ":\n" << r.out << r.err);
  }

  // A node that dies shows up in every view: unreachable in cluster, dead in status.
  {
    process watch{f.c.dir(),
                  {"shell", "--config", f.config_file, "--node", "moscow", "--json", "watch", "4"}};
    std::this_thread::sleep_for(1s);
    f.c.kill("spb");
    auto code = watch.wait(20s);
    CAF_REQUIRE(code.has_value());
    CAF_CHECK_EQUAL(*code, 0);
    std::set<std::string> seen;
    std::istringstream lines{watch.out()};
    for (std::string line; std::getline(lines, line);) {
      auto e = json::parse(line);
      if (e["subject"] == "spb")
        seen.insert(e["kind"].get<std::string>());
    }
    CAF_CHECK(seen.count("link") == 1);
    CAF_CHECK(seen.count("verdict") == 1);
  }
  auto cluster_text = f.shell({"cluster"});
  CAF_CHECK(std::regex_search(cluster_text.out, std::regex{"spb +unreachable"}));
  auto nameless = f.shell({"--json", "status"}, "");
  CAF_CHECK_EQUAL(nameless.code, 2); // neither --node nor --socket, no MONTANA_NODE_NAME
  auto by_socket = f.shell({"--socket", f.c.at("moscow").shell_socket(), "--json", "status"}, "");
  CAF_CHECK_EQUAL(by_socket.code, 0);
  auto there = json::parse(by_socket.out);
  CAF_CHECK_EQUAL(there["node"], "moscow");
}

CAF_TEST(an interactive session edits lines completes commands and keeps history) {
  fixture f;
  auto home = f.c.dir() + "/home";
  std::filesystem::create_directories(home);
  terminal t{{"shell", "--config", f.config_file, "--node", "amsterdam"},
             {"TERM=xterm", "HOME=" + home, "PATH=/usr/bin:/bin"}};
  const std::string prompt = "montana amsterdam> ";
  GUARD_REQUIRE(t.await_text(prompt));
  // Types `keys`, expects `answer` on the screen, then the prompt again.
  auto session = [&](const std::string& keys, const std::string& answer) {
    t.type(keys);
    CAF_CHECK(t.await_text(answer));
    CAF_CHECK(t.await_text(prompt));
  };
  session("status\r", "duty bot: holder");
  // Tab completes the command; the line is then run as typed.
  session("clu\t\r", "duty bot: held by amsterdam");
  session("probes mos\t\r", "probe moscow: alive");
  session("bogus\r", "unknown command 'bogus'");
  // Ctrl-D ends the session; the history file keeps what was typed.
  t.type("\x04");
  auto code = t.wait(20s);
  CAF_CHECK(code == 0);
  auto history = read_file(home + "/.montana_shell_history");
  CAF_CHECK(contains(history, "status"));
  CAF_CHECK(contains(history, "cluster"));
  if (!code || *code != 0)
    CAF_MESSAGE("screen:\n" << t.screen());
}

CAF_TEST(step - down moves the duty with zero overlap and resume brings it back) {
  fixture f;
  auto down = f.shell({"step-down"});
  CAF_CHECK_EQUAL(down.code, 0);
  CAF_CHECK(contains(down.out, "handed over"));
  CAF_REQUIRE(f.c.wait_for_holder("moscow", settle));
  // moscow started only after amsterdam's process was gone.
  auto recs = f.c.records();
  CAF_CHECK(last_record_at(recs, "amsterdam", "stop") > 0);
  CAF_CHECK(last_record_at(recs, "moscow", "start") > last_record_at(recs, "amsterdam", "stop"));
  CAF_CHECK_EQUAL(f.c.max_overlap(), 1);
  // amsterdam stays out: it is alive, first in the chain, and does not claim.
  std::this_thread::sleep_for(2s);
  CAF_CHECK_EQUAL(f.c.running(), std::vector<std::string>{"moscow"});
  auto status = f.shell_json({"status"});
  CAF_CHECK_EQUAL(status["duties"][0]["stepped_down"], true);
  CAF_CHECK_EQUAL(status["duties"][0]["role"], "standby");
  auto seen = f.shell_json({"status"}, "almaty");
  CAF_CHECK_EQUAL(seen["duties"][0]["chain"][0]["stepped_down"], true);
  auto again = f.shell({"step-down", "bot"});
  CAF_CHECK(contains(again.out, "already stepped down"));
  auto nothing = f.shell({"step-down"}, "almaty");
  CAF_CHECK_EQUAL(nothing.code, 0);
  CAF_CHECK(contains(nothing.out, "it did not run here"));
  auto back = f.shell({"resume"}, "almaty");
  CAF_CHECK_EQUAL(back.code, 0);
  // The step-down survives a restart of amsterdam's service: it comes back stepped down.
  f.c.kill("amsterdam");
  f.c.start("amsterdam");
  std::this_thread::sleep_for(2s);
  CAF_CHECK_EQUAL(f.c.running(), std::vector<std::string>{"moscow"});
  auto restarted = f.shell_json({"status"});
  CAF_CHECK_EQUAL(restarted["duties"][0]["stepped_down"], true);
  auto told = f.shell_json({"status"}, "moscow");
  CAF_CHECK_EQUAL(told["duties"][0]["chain"][0]["stepped_down"], true);

  auto up = f.shell({"resume"});
  CAF_CHECK_EQUAL(up.code, 0);
  CAF_CHECK(contains(up.out, "resumed"));
  CAF_REQUIRE(f.c.wait_for_holder("amsterdam", settle));
  recs = f.c.records();
  CAF_CHECK(last_record_at(recs, "amsterdam", "start") > last_record_at(recs, "moscow", "stop"));
  CAF_CHECK_EQUAL(f.c.max_overlap(), 1);

  // A restart of the duty's process on the holder keeps the duty there.
  auto pid = f.duty_pid("amsterdam");
  auto restart = f.shell({"duty", "restart"});
  CAF_CHECK_EQUAL(restart.code, 0);
  CAF_CHECK(wait_until(
      [&] { return f.duty_pid("amsterdam") != 0 && f.duty_pid("amsterdam") != pid; }, settle));
  auto elsewhere = f.shell({"duty", "restart"}, "moscow");
  CAF_CHECK_EQUAL(elsewhere.code, 1);
  CAF_CHECK(contains(elsewhere.out, "runs on the holder"));

  // With every other node gone, stepping down would stop the duty: refused.
  for (const auto* n : {"moscow", "almaty", "spb", "novosibirsk"})
    f.c.kill(n);
  CAF_CHECK(wait_until(
      [&] {
        auto s = f.shell_json({"status"});
        for (const auto& p : s["peers"])
          if (p["verdict"] != "dead")
            return false;
        return true;
      },
      settle));
  auto alone = f.shell({"step-down"});
  CAF_CHECK_EQUAL(alone.code, 1);
  CAF_CHECK(contains(alone.out, "no other node"));
  CAF_CHECK_EQUAL(f.c.running(), std::vector<std::string>{"amsterdam"});
  CAF_CHECK_EQUAL(f.c.max_overlap(), 1);
}

CAF_TEST(the socket lets in the service user and its group only and names who came) {
  fixture f;
  auto path = f.c.at("amsterdam").shell_socket();
  struct stat info {};
  auto found = ::stat(path.c_str(), &info);
  CAF_REQUIRE_EQUAL(found, 0);
  CAF_CHECK(S_ISSOCK(info.st_mode));
  CAF_CHECK_EQUAL(info.st_mode & 0777, 0660u);
  // Another user, in no group of the service: the kernel refuses the connection.
  auto setpriv = find_tool("setpriv");
  GUARD_REQUIRE(!setpriv.empty());
  auto out = f.c.dir() + "/nobody.out";
  auto code = run_tool({setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                        MONTANA_BINARY_PATH, "shell", "--socket", path, "status"},
                       out);
  CAF_CHECK_EQUAL(code, 1);
  CAF_CHECK(contains(read_file(out), "Permission denied"));
  // Who used the shell is in the log.
  auto log = f.shell({"log", "200"});
  CAF_CHECK(contains(log.out, "operator root (uid 0): shell connected"));
  // More shells at once than it serves: the extra ones are closed and counted.
  std::vector<int> held;
  for (size_t i = 0; i < 20; ++i) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    CAF_CHECK_EQUAL(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    held.push_back(fd);
  }
  std::this_thread::sleep_for(500ms);
  for (auto fd : held)
    ::close(fd);
  auto status = f.shell_json({"status"});
  CAF_CHECK_GREATER_OR_EQUAL(status["shell_refusals"].get<int>(), 4);
  CAF_CHECK_EQUAL(status["duties"][0]["role"], "holder");
}

CAF_TEST(the status endpoint serves metrics and status and refuses bad requests) {
  std::string host;
  uint16_t port = 0;
  fixture f{[&](cluster& c) {
    host = c.cfg().find_node("amsterdam")->host;
    port = free_port(host);
    c.reconfigure("amsterdam", [&](config& cfg) {
      cfg.status.enabled = true;
      cfg.status.host = host;
      cfg.status.port = port;
    });
  }};
  GUARD_REQUIRE(wait_until([&] { return all_alive(f.shell_json({"status"})); }, settle));
  auto scrape = http(host, port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CAF_CHECK_EQUAL(status_code(scrape), 200);
  CAF_CHECK(contains(scrape, "Content-Type: text/plain; version=0.0.4"));
  std::string problem;
  auto metrics = parse_metrics(body(scrape), problem);
  CAF_CHECK_EQUAL(problem, "");
  CAF_CHECK_EQUAL(metrics["montana_duty_role{duty=\"bot\",role=\"holder\"}"], 1);
  CAF_CHECK_EQUAL(metrics["montana_duty_role{duty=\"bot\",role=\"standby\"}"], 0);
  CAF_CHECK(metrics["montana_duty_term{duty=\"bot\"}"] >= 1);
  CAF_CHECK_EQUAL(metrics["montana_duty_failovers_total{duty=\"bot\"}"], 1);
  CAF_CHECK_EQUAL(metrics["montana_peer_verdict{peer=\"moscow\",verdict=\"alive\"}"], 1);
  CAF_CHECK_EQUAL(metrics["montana_peer_verdict{peer=\"moscow\",verdict=\"dead\"}"], 0);
  CAF_CHECK_EQUAL(metrics.count("montana_tls_refusals_total"), 1u);
  CAF_CHECK(metrics.count("montana_duty_seconds_since_role_change{duty=\"bot\"}") == 1);
  CAF_CHECK(metrics.count("montana_duty_restarts_total{duty=\"bot\"}") == 1);
  // /status is the shell's status document.
  auto status = http(host, port, "GET /status HTTP/1.0\r\n\r\n");
  CAF_CHECK_EQUAL(status_code(status), 200);
  auto doc = json::parse(body(status));
  auto shell = f.shell_json({"status"});
  for (const auto* key : {"node", "version", "incarnation", "started"})
    CAF_CHECK_EQUAL(doc[key], shell[key]);
  CAF_CHECK_EQUAL(doc["duties"][0]["role"], shell["duties"][0]["role"]);
  CAF_CHECK_EQUAL(doc.size(), shell.size());

  // Bad requests get 4xx (or 505), never a crash.
  CAF_CHECK_EQUAL(status_code(http(host, port, "garbage\r\n\r\n")), 400);
  CAF_CHECK_EQUAL(status_code(http(host, port, "GET /metrics HTTP/2.0\r\n\r\n")), 505);
  // A slow request after a fast one gets its own time: a 408 came after 0.99 s when the timer
  // of the previous connection fired on a reused connection id.
  {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    CAF_REQUIRE_EQUAL(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    CAF_CHECK(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) > 0);
    std::this_thread::sleep_for(2s);
    pollfd p{fd, POLLIN, 0};
    CAF_CHECK_EQUAL(::poll(&p, 1, 0), 0);
    CAF_CHECK(::send(fd, "\r\n", 2, MSG_NOSIGNAL) == 2);
    std::string response;
    char buf[4096];
    while (::poll(&p, 1, 5000) > 0) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        break;
      response.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    CAF_CHECK_EQUAL(status_code(response), 200);
  }
  CAF_CHECK_EQUAL(status_code(http(host, port, "POST /metrics HTTP/1.1\r\n\r\n")), 405);
  CAF_CHECK_EQUAL(status_code(http(host, port, "GET /secrets HTTP/1.1\r\n\r\n")), 404);
  CAF_CHECK_EQUAL(status_code(http(host, port, "GET / HTTP/1.1\r\nBad header\r\n\r\n")), 400);
  auto big = "GET /metrics HTTP/1.1\r\nX-Fill: " + std::string(9000, 'a') + "\r\n\r\n";
  CAF_CHECK_EQUAL(status_code(http(host, port, big)), 431);
  CAF_CHECK_EQUAL(status_code(http(host, port, std::string(20000, 'x'))), 431);
  std::string binary(3000, '\0');
  for (size_t i = 0; i < binary.size(); ++i)
    binary[i] = static_cast<char>(i * 7919 % 256);
  CAF_CHECK(status_code(http(host, port, binary + "\r\n\r\n")) / 100 == 4);
  // More idle connections than it serves: the extra ones get 503 at once, the others 408.
  std::vector<int> idle;
  for (size_t i = 0; i < 20; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    CAF_CHECK_EQUAL(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    idle.push_back(fd);
  }
  std::map<int, int> answers;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  std::map<int, std::string> got;
  while (got.size() < idle.size() && std::chrono::steady_clock::now() < deadline) {
    for (auto fd : idle) {
      if (got.count(fd))
        continue;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        char buf[512];
        auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        got[fd] = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
      }
    }
  }
  for (const auto& [fd, response] : got)
    ++answers[status_code(response)];
  for (auto fd : idle)
    ::close(fd);
  CAF_CHECK_EQUAL(answers[503], 4);
  CAF_CHECK_EQUAL(answers[408], 16);
  // And it still serves.
  CAF_CHECK_EQUAL(status_code(http(host, port, "GET /metrics HTTP/1.1\r\n\r\n")), 200);
  CAF_CHECK_EQUAL(f.c.running(), std::vector<std::string>{"amsterdam"});
}

CAF_TEST(breathe breathes now and breath shows the breaths) {
  fs::path clone;
  fixture f{[&](cluster& c) {
    // A bare origin with the synced file and amsterdam's clone of it; only amsterdam breathes.
    auto root = fs::path{c.dir()} / "git";
    auto origin = root / "origin.git";
    auto seed = root / "seed";
    GUARD_REQUIRE(run(git_cli + "init -q --bare " + origin.string()).status == 0);
    GUARD_REQUIRE(run(git_cli + "clone -q " + origin.string() + " " + seed.string()).status == 0);
    GUARD_REQUIRE(write_file(seed / "data/users.json", "{}\n"));
    GUARD_REQUIRE(run(git(seed, "add data/users.json")).status == 0);
    GUARD_REQUIRE(run(git(seed, "commit -q -m seed")).status == 0);
    GUARD_REQUIRE(run(git(seed, "push -q origin main")).status == 0);
    clone = root / "amsterdam";
    GUARD_REQUIRE(run(git_cli + "clone -q " + origin.string() + " " + clone.string()).status == 0);
    c.reconfigure("amsterdam", [&](config& cfg) {
      cfg.breath.repo = clone.string();
      cfg.breath.paths = {"data/users.json"};
      cfg.breath.interval = duration{3600000}; // only the first breath and the ones asked for
      cfg.breath.backoff_max = duration{3600000};
    });
  }};
  GUARD_REQUIRE(write_file(clone / "data/users.json", "{\"42\": {\"first_name\": \"Ada\"}}\n"));
  auto breath = f.shell_json({"breathe"});
  CAF_CHECK_EQUAL(breath["ok"], true);
  CAF_CHECK_EQUAL(breath["commits_out"], 1);
  auto history = f.shell_json({"breath"});
  CAF_CHECK(history.size() >= 2u);
  CAF_CHECK_EQUAL(history.back()["seq"], breath["seq"]);
  auto status = f.shell_json({"status"});
  CAF_CHECK_EQUAL(status["breath"]["enabled"], true);
  CAF_CHECK(status["breath"]["breaths"].get<int>() >= 2);
  auto plain = f.shell({"breath"});
  CAF_CHECK(contains(plain.out, "ok in"));
  // Another node does not breathe: it says so.
  auto elsewhere = f.shell({"breathe"}, "moscow");
  CAF_CHECK_EQUAL(elsewhere.code, 1);
  CAF_CHECK(contains(elsewhere.err, "does not breathe"));
  auto log = f.shell({"log", "200"});
  CAF_CHECK(contains(log.out, "operator root (uid 0): breathe"));
}
