// The 19333 channel against clients that are not ours, over real sockets on the cluster's private
// 127.x.y.z block: the `openssl s_client` tool (TLS 1.2, no client certificate, certificates
// outside the registry) and Python's ssl module (tests/support/wire_client.py) holding a node's
// real certificate and key: it says it is another node, sends the frames that crashed CAF's
// parser, an incompatible protocol version and internal messages; floods of idle and half-open
// connections. And how long a full five-node mesh takes to form.
#define CAF_SUITE integration.tls
#include "caf/test/dsl.hpp"

#include "messages/wire.hpp"
#include "runtime/identity.hpp"
#include "support/cluster.hpp"
#include "support/files.hpp"
#include "support/guard.hpp"
#include "support/log_capture.hpp"
#include "support/process.hpp"

#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

using json = nlohmann::json;

const std::vector<std::string> all_nodes{"amsterdam", "moscow", "almaty", "spb", "novosibirsk"};

const std::string python = "/usr/bin/python3";
const std::string wire_client = MONTANA_SOURCE_DIR "/tests/support/wire_client.py";

bool full_mesh(cluster& c, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        for (const auto& n : all_nodes)
          if (!c.at(n).running() || linked_nodes(c.at(n)).size() != all_nodes.size() - 1)
            return false;
        return true;
      },
      timeout);
}

size_t start_records(const cluster& c) {
  auto records = c.records();
  return std::count_if(records.begin(), records.end(),
                       [](const duty_record& r) { return r.what == "start"; });
}

/// Whether `from`'s link to `to` answers a ping, and the answer comes from `to`.
bool serves_over_link(node& from, const std::string& to) {
  caf::scoped_actor self{from.system()};
  self->send(from.gateway(), subscribe_atom::value, caf::actor{self});
  caf::actor link;
  for (bool quiet = false; !quiet && !link;)
    self->receive(
        [&](const link_up& x) {
          if (x.node == to)
            link = x.gateway;
        },
        [](const link_down&) {},
        caf::after(std::chrono::milliseconds{150}) >> [&] { quiet = true; });
  if (!link)
    return false;
  bool answered = false;
  self->request(link, 2s, ping{from.name(), 42})
      .receive([&](const pong& p) { answered = p.node == to && p.seq == 42; }, [](caf::error&) {});
  return answered;
}

node_status status_of(node& n) {
  node_status out;
  caf::scoped_actor self{n.system()};
  self->request(n.inspector(), 3s, status_atom::value)
      .receive([&](node_status& s) { out = std::move(s); }, [](caf::error&) {});
  return out;
}

/// Link events a peer actor announces from now on, as "up NODE" / "down NODE: reason" lines.
struct event_log {
  std::mutex mutex;
  std::vector<std::string> lines;

  std::vector<std::string> all() {
    std::lock_guard<std::mutex> guard{mutex};
    return lines;
  }
};

/// CPU seconds this process used so far (user and system).
double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// Resident memory of this process, in MiB.
long rss_mib() {
  std::ifstream status{"/proc/self/status"};
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmRSS:"))
      return std::stol(line.substr(6)) / 1024;
  return 0;
}

struct fixture : scratch {
  std::unique_ptr<cluster> c;
  std::vector<caf::actor> watchers;

  fixture() : scratch{"tls"} {}

  ~fixture() {
    for (auto& w : watchers)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
    watchers.clear();
    c.reset();
  }

  /// Five nodes, all started; required: a full mesh and amsterdam holding the duty.
  cluster& start_cluster() {
    c = std::make_unique<cluster>();
    c->start_all();
    GUARD_REQUIRE(full_mesh(*c, 15s));
    GUARD_REQUIRE(c->wait_for_holder("amsterdam", 15s));
    return *c;
  }

  std::string identity(const std::string& file) const { return c->dir() + "/identities/" + file; }

  /// Subscribes to `n`'s peer; the replay of its current links is left out of the log.
  std::shared_ptr<event_log> watch(node& n) {
    auto log = std::make_shared<event_log>();
    auto replay = linked_nodes(n).size();
    auto watcher = n.system().spawn([log, replay](caf::event_based_actor*) -> caf::behavior {
      auto skip = std::make_shared<size_t>(replay);
      return {
          [log, skip](const link_up& x) {
            if (*skip > 0) {
              --*skip;
              return;
            }
            std::lock_guard<std::mutex> guard{log->mutex};
            log->lines.push_back("up " + x.node);
          },
          [log](const link_down& x) {
            std::lock_guard<std::mutex> guard{log->mutex};
            log->lines.push_back("down " + x.node + ": " + x.reason);
          },
      };
    });
    watchers.push_back(watcher);
    caf::anon_send(n.gateway(), subscribe_atom::value, watcher);
    return log;
  }

  /// Runs wire_client.py with `args`; its JSON lines.
  std::vector<json> client(const std::vector<std::string>& args,
                           std::chrono::milliseconds timeout = 60s) {
    static int counter = 0;
    auto out = path("client" + std::to_string(++counter) + ".out");
    std::vector<std::string> argv{python, wire_client};
    argv.insert(argv.end(), args.begin(), args.end());
    auto code = run_tool(argv, out, timeout);
    auto text = read_file(out);
    if (code != 0)
      GUARD_FAIL("wire_client.py exited with " << code << ":\n" << text);
    std::vector<json> lines;
    std::istringstream in{text};
    for (std::string line; std::getline(in, line);)
      lines.push_back(json::parse(line));
    return lines;
  }

  /// A TLS session to `target` with node `as`'s certificate and key, running `steps`.
  std::vector<json> as_node(const std::string& as, const std::string& target,
                            const std::vector<std::string>& steps) {
    const auto& t = *c->cfg().find_node(target);
    std::vector<std::string> args{"tls",
                                  t.host,
                                  std::to_string(t.port),
                                  identity(as + ".crt"),
                                  identity(as + ".key"),
                                  identity(target + ".crt")};
    args.insert(args.end(), steps.begin(), steps.end());
    return client(args);
  }
};

bool has(const std::vector<json>& lines, const std::string& key) {
  return std::any_of(lines.begin(), lines.end(), [&](const json& j) { return j.contains(key); });
}

/// The frames the node sent, by type.
std::vector<std::string> frame_types(const std::vector<json>& lines) {
  std::vector<std::string> out;
  for (const auto& j : lines)
    if (j.contains("frame") && j["frame"].is_object())
      out.push_back(j["frame"].value("t", "?"));
  return out;
}

std::string dump(const std::vector<json>& lines) {
  std::string out;
  for (const auto& j : lines)
    out += j.dump() + "\n";
  return out;
}

// --- openssl s_client ----------------------------------------------------------------------------

/// What one s_client run against a node saw.
struct client_result {
  /// Exit code when it ended by itself (the node closed the connection); nullopt when it was
  /// still connected after the wait and had to be killed.
  std::optional<int> code;
  std::string output;
};

/// What a node's hello looks like on s_client's output.
const std::string hello_mark = R"("protocol":"montana")";

/// True when the node sent its hello over the session: it accepted the client.
bool node_spoke(const client_result& r) {
  return contains(r.output, hello_mark);
}

/// `openssl s_client` against `target`, pinning its certificate and failing on any verification
/// error; it keeps reading after stdin's EOF, so it ends only when the node closes.
client_result s_client(scratch& s, const node_entry& target, const std::string& target_cert,
                       std::vector<std::string> extra) {
  static int counter = 0;
  auto out = s.path("s_client" + std::to_string(++counter) + ".out");
  std::vector<std::string> args{openssl_tool(),
                                "s_client",
                                "-connect",
                                target.host + ":" + std::to_string(target.port),
                                "-CAfile",
                                target_cert,
                                "-verify_return_error",
                                "-brief",
                                "-ign_eof"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::string problem;
  auto pid = spawn_child(args, "/dev/null", out, problem);
  if (pid < 0)
    GUARD_FAIL(problem);
  live_children.push_back(pid);
  client_result r;
  int status = 0;
  bool reaped = false;
  wait_until(
      [&] {
        reaped = reaped || ::waitpid(pid, &status, WNOHANG) == pid;
        return reaped || contains(read_file(out), hello_mark);
      },
      10s);
  if (reaped) {
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  } else {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  std::erase(live_children, pid);
  r.output = read_file(out);
  return r;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(tls_tests, fixture)

CAF_TEST(openssl s_client is refused without TLS 1.3 and a registered certificate) {
  GUARD_REQUIRE(!openssl_tool().empty());
  auto& c = start_cluster();
  const auto& moscow = *c.cfg().find_node("moscow");
  auto pinned = identity("moscow.crt");
  auto spb_cert = identity("spb.crt");
  auto spb_key = identity("spb.key");

  // Contrast: a registered node's certificate over TLS 1.3 gets a session and the node's hello.
  // Without it the refusals below could be a broken client.
  auto valid = s_client(*this, moscow, pinned, {"-tls1_3", "-cert", spb_cert, "-key", spb_key});
  CAF_CHECK(contains(valid.output, "Protocol version: TLSv1.3"));
  CAF_CHECK(node_spoke(valid));
  if (!node_spoke(valid))
    CAF_MESSAGE("valid client:\n" << valid.output);

  // TLS 1.2 with the same valid certificate: no session at all.
  auto old = s_client(*this, moscow, pinned, {"-tls1_2", "-cert", spb_cert, "-key", spb_key});
  CAF_CHECK(old.code && *old.code != 0);
  CAF_CHECK(contains(old.output, "alert protocol version"));
  CAF_CHECK(!node_spoke(old));

  // TLS 1.3 without a client certificate: the refusal is the server's alert, never data.
  auto anonymous = s_client(*this, moscow, pinned, {"-tls1_3"});
  CAF_CHECK(anonymous.code && *anonymous.code != 0);
  CAF_CHECK(contains(anonymous.output, "alert certificate required"));
  CAF_CHECK(!node_spoke(anonymous));

  // Self-signed certificates whose key no registry entry pins: one of ours for a known node name
  // and one made by the openssl tool.
  auto stranger = create_identity("amsterdam", dir + "/stranger");
  auto forged =
      s_client(*this, moscow, pinned,
               {"-tls1_3", "-cert", stranger.files.cert_path, "-key", stranger.files.key_path});
  CAF_CHECK(forged.code && *forged.code != 0);
  CAF_CHECK(contains(forged.output, "alert bad certificate"));
  CAF_CHECK(!node_spoke(forged));
  if (!contains(forged.output, "alert bad certificate"))
    CAF_MESSAGE("client with an unregistered amsterdam certificate:\n" << forged.output);
  GUARD_REQUIRE(run_tool({openssl_tool(), "req", "-x509", "-newkey", "ed25519", "-nodes", "-days",
                          "1", "-subj", "/CN=mallory", "-keyout", path("mallory.key"), "-out",
                          path("mallory.crt")},
                         path("req.out")) == 0);
  auto mallory = s_client(*this, moscow, pinned,
                          {"-tls1_3", "-cert", path("mallory.crt"), "-key", path("mallory.key")});
  CAF_CHECK(mallory.code && *mallory.code != 0);
  CAF_CHECK(contains(mallory.output, "alert bad certificate"));
  CAF_CHECK(!node_spoke(mallory));

  // None of it disturbed the node; each refusal was counted.
  CAF_CHECK_EQUAL(linked_nodes(c.at("moscow")).size(), 4u);
  CAF_CHECK(serves_over_link(c.at("amsterdam"), "moscow"));
  CAF_CHECK_GREATER_OR_EQUAL(status_of(c.at("moscow")).tls_refusals, 4u);
}

CAF_TEST(a node key speaks only for its own node and reaches no internal actor) {
  auto& c = start_cluster();
  auto moscow_events = watch(c.at("moscow"));
  auto marker = path("pwned");
  // spb's real certificate and key get the client through TLS to moscow. It says it is
  // amsterdam; then it says it is spb, which ranks below moscow and never dials it.
  auto as_amsterdam = as_node("spb", "moscow", {"hello:amsterdam", "read:3"});
  CAF_CHECK(has(as_amsterdam, "tls"));
  CAF_CHECK(has(as_amsterdam, "closed"));
  auto lower = as_node("spb", "moscow", {"hello:spb", "read:3"});
  CAF_CHECK(has(lower, "closed"));
  CAF_CHECK_EQUAL(moscow_events->all(), std::vector<std::string>{});
  // With spb gone, its key links to novosibirsk (spb does dial it) and sends the internal
  // messages that used to run commands and fake verdicts, a claim naming amsterdam and a
  // BASP-era restart. The node answers the hello and the ping, ignores every type that has no
  // wire form and takes the claim as spb's own.
  c.kill("spb");
  auto starts = start_records(c);
  auto internal = as_node(
      "spb", "novosibirsk",
      {"hello:spb", R"(frame:{"t":"verdict_changed","node":"amsterdam","value":3,"reason":"x"})",
       R"(frame:{"t":"link_down","node":"amsterdam","reason":"forged"})",
       R"(frame:{"t":"duty_update","command":["/bin/sh","-c","touch )" + marker + R"("],"env":{}})",
       R"(frame:{"t":"restart","duty":"bot","operator":"mallory"})",
       R"(frame:{"t":"claim","duty":"bot","from":"amsterdam","term":99})",
       R"(frame:{"t":"ping","seq":7,"id":1})", "read:2"});
  auto types = frame_types(internal);
  CAF_CHECK(std::find(types.begin(), types.end(), "hello") != types.end());
  CAF_CHECK(std::find(types.begin(), types.end(), "pong") != types.end());
  CAF_CHECK(std::find(types.begin(), types.end(), "released") != types.end());
  CAF_MESSAGE("novosibirsk answered: " << dump(internal));
  std::this_thread::sleep_for(500ms);
  CAF_CHECK(!std::filesystem::exists(marker));
  // Nothing moved: amsterdam still holds the duty, alone.
  CAF_CHECK_EQUAL(c.running(), std::vector<std::string>{"amsterdam"});
  CAF_CHECK_EQUAL(start_records(c), starts);
  c.start("spb");
  CAF_CHECK(full_mesh(c, 10s));
}

CAF_TEST(the frames that crashed CAF end the connection and nothing else) {
  auto& c = start_cluster();
  // spb gone, so that its key's links to novosibirsk replace no real link.
  c.kill("spb");
  auto starts = start_records(c);
  auto rss_before = rss_mib();
  log_capture captured;
  // CAF 0.17.6 died with SIGSEGV on this 32-byte BASP header {op = server_handshake,
  // payload_len = 0} after the TLS handshake, every time.
  auto crash = as_node("spb", "novosibirsk", {"raw:" + std::string(64, '0'), "read:3"});
  CAF_CHECK(has(crash, "closed"));
  // A header announcing 1 GiB made CAF allocate and zero it on its multiplexer thread.
  auto huge = as_node("spb", "novosibirsk", {"hello:spb", "header:1073741824", "read:3"});
  CAF_CHECK(has(huge, "closed"));
  // Garbage in a frame, and a frame too big by one byte.
  auto junk = as_node("spb", "novosibirsk", {"hello:spb", "frame:{not json", "read:3"});
  CAF_CHECK(has(junk, "closed"));
  auto over = as_node("spb", "novosibirsk",
                      {"hello:spb", "header:" + std::to_string(wire::max_frame + 1), "read:3"});
  CAF_CHECK(has(over, "closed"));
  CAF_CHECK_LESS(rss_mib() - rss_before, 64);
  // Each was closed for what it sent, with one line saying so.
  auto lines = captured.lines("info");
  auto said = [&](const std::string& what) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
      return contains(l, "[novosibirsk] peer spb: link lost: ") && contains(l, what);
    });
  };
  CAF_CHECK(said("a frame of 1073741824 bytes"));
  CAF_CHECK(said("a malformed frame"));
  CAF_CHECK(said("a frame of " + std::to_string(wire::max_frame + 1) + " bytes"));
  auto warnings = captured.lines("warning");
  CAF_CHECK(std::any_of(warnings.begin(), warnings.end(), [](const std::string& l) {
    return contains(l, "[novosibirsk] peer spb: a frame of 0 bytes");
  }));
  // Every node lives, and the duty never moved.
  CAF_CHECK_EQUAL(c.running(), std::vector<std::string>{"amsterdam"});
  CAF_CHECK_EQUAL(start_records(c), starts);
  c.start("spb");
  CAF_CHECK(full_mesh(c, 10s));
}

CAF_TEST(a node of another major protocol version is refused with both versions named) {
  auto& c = start_cluster();
  log_capture captured;
  auto newer = as_node("spb", "novosibirsk", {"hello:spb:2", "read:3"});
  CAF_CHECK(has(newer, "closed"));
  auto s = status_of(c.at("novosibirsk"));
  CAF_CHECK_EQUAL(s.version_refusals, 1u);
  auto spb = std::find_if(s.links.begin(), s.links.end(),
                          [](const link_status& l) { return l.node == "spb"; });
  GUARD_REQUIRE(spb != s.links.end());
  CAF_CHECK(contains(spb->problem, "protocol 2.0, this node 1.1"));
  auto warnings = captured.lines("warning");
  CAF_CHECK(std::any_of(warnings.begin(), warnings.end(), [](const std::string& l) {
    return contains(l, "[novosibirsk] peer spb:") && contains(l, "protocol 2.0, this node 1.1");
  }));
  // The real spb is unaffected.
  CAF_CHECK(full_mesh(c, 5s));
}

CAF_TEST(floods of idle and half open connections cost a node no link and no cpu) {
  auto& c = start_cluster();
  auto starts = start_records(c);
  auto spb_events = watch(c.at("spb"));
  // The descriptor limit systemd gives a service without LimitNOFILE: 1,500 idle connections
  // ended a node when CAF read the certificate files for each of them.
  rlimit before{};
  ::getrlimit(RLIMIT_NOFILE, &before);
  rlimit low{1024, before.rlim_max};
  ::setrlimit(RLIMIT_NOFILE, &low);
  const auto& spb = *c.cfg().find_node("spb");
  auto idle_out = path("idle.out");
  auto half_out = path("half.out");
  auto flood = [&](const std::vector<std::string>& args, const std::string& out) {
    std::vector<std::string> argv{python, wire_client, "flood", spb.host, std::to_string(spb.port)};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string problem;
    auto pid = spawn_child(argv, "/dev/null", out, problem);
    if (pid < 0)
      GUARD_FAIL(problem);
    live_children.push_back(pid);
    return pid;
  };
  auto idle = flood({"1500", "6"}, idle_out);
  auto half_open = flood({"300", "6", "hello"}, half_out);
  // Meanwhile a lower node restarts and dials spb, the node under attack.
  std::this_thread::sleep_for(1s);
  c.kill("almaty");
  c.start("almaty");
  auto relinked = full_mesh(c, 10s);
  // Idle connections are still open: a connection that spins shows here.
  auto quiet_start = cpu_seconds();
  std::this_thread::sleep_for(2s);
  auto quiet = cpu_seconds() - quiet_start;
  for (auto pid : {idle, half_open}) {
    GUARD_REQUIRE(wait_until([&] { return ::waitpid(pid, nullptr, WNOHANG) == pid; }, 30s));
    std::erase(live_children, pid);
  }
  ::setrlimit(RLIMIT_NOFILE, &before);
  CAF_CHECK(relinked);
  auto last = [](const std::string& text) {
    auto lines = text.substr(0, text.size() - 1);
    return json::parse(lines.substr(lines.rfind('\n') + 1));
  };
  auto idle_result = last(read_file(idle_out));
  auto half_result = last(read_file(half_out));
  CAF_MESSAGE("idle flood: " << read_file(idle_out) << "half-open flood: " << read_file(half_out)
                             << "cpu in 2 s with the floods open: " << quiet << " s");
  // Beyond its limits the node closed connections at once; the few it kept it closed by the
  // handshake deadline.
  CAF_CHECK_GREATER_OR_EQUAL(idle_result.value("closed_by_node", 0), 1500 - 8);
  CAF_CHECK_GREATER_OR_EQUAL(half_result.value("closed_by_node", 0), 300 - 8);
  CAF_CHECK_GREATER_OR_EQUAL(status_of(c.at("spb")).tls_refusals, 1800u - 16u);
  // An idle process of five nodes stays idle with them open.
  CAF_CHECK_LESS(quiet, 1.0);
  // spb lost and regained almaty's link and nothing else; the duty never moved.
  for (const auto& line : spb_events->all())
    CAF_CHECK(contains(line, "almaty"));
  CAF_CHECK_EQUAL(c.running(), std::vector<std::string>{"amsterdam"});
  CAF_CHECK_EQUAL(start_records(c), starts);
}

CAF_TEST(heartbeats fill only the silences of a link and a silent peer loses it) {
  auto& c = start_cluster();
  // spb gone, so that its key's link to novosibirsk replaces no real link.
  c.kill("spb");
  // The test profile: a heartbeat after 400 ms with nothing sent, closed after 1 s unheard.
  // The client pings every 150 ms for 1.5 s: the node answers each, so it sends no heartbeat;
  // then the client falls silent, as a frozen node does.
  std::vector<std::string> steps{"hello:spb"};
  for (int i = 1; i <= 10; ++i) {
    steps.push_back(R"(frame:{"t":"ping","seq":)" + std::to_string(i) + R"(,"id":1})");
    steps.emplace_back("sleep:0.15");
  }
  steps.emplace_back("read:0.3");
  auto busy = as_node("spb", "novosibirsk", steps);
  auto types = frame_types(busy);
  CAF_MESSAGE("novosibirsk sent: " << dump(busy));
  CAF_CHECK_EQUAL(std::count(types.begin(), types.end(), "pong"), 10);
  CAF_CHECK_EQUAL(std::count(types.begin(), types.end(), "hb"), 0);
  CAF_CHECK(!has(busy, "closed"));
  // Silent: the node closes the link after 1 s unheard, long before the 5 s handshake deadline.
  auto silent = as_node("spb", "novosibirsk", {"hello:spb", "read:3"});
  GUARD_REQUIRE(has(silent, "closed"));
  auto closed = std::find_if(silent.begin(), silent.end(),
                             [](const json& j) { return j.contains("closed"); });
  CAF_MESSAGE("a silent peer's link closed " << (*closed)["closed"] << " s after its hello");
  CAF_CHECK_LESS((*closed)["closed"].get<double>(), 2.5);
  c.start("spb");
  CAF_CHECK(full_mesh(c, 10s));
}

CAF_TEST(the service links no part of CAF that listens to the network) {
  auto out = path("readelf.out");
  auto readelf = find_tool("readelf");
  GUARD_REQUIRE(!readelf.empty());
  GUARD_REQUIRE(run_tool({readelf, "-d", MONTANA_BINARY_PATH}, out) == 0);
  auto needed = read_file(out);
  CAF_CHECK(contains(needed, "libcaf_core"));
  CAF_CHECK(!contains(needed, "libcaf_io"));
  CAF_CHECK(!contains(needed, "libcaf_openssl"));
}

CAF_TEST(five nodes form a full mesh) {
  c = std::make_unique<cluster>();
  auto started = std::chrono::steady_clock::now();
  c->start_all();
  auto meshed = full_mesh(*c, 10s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  CAF_CHECK(meshed);
  CAF_MESSAGE("five-node TLS mesh (20 link ends) formed in " << took.count() << " ms");
  // Each link leads to the node it is named after.
  for (const auto& from : all_nodes)
    for (const auto& to : all_nodes)
      if (from != to)
        CAF_CHECK(serves_over_link(c->at(from), to));
  CAF_CHECK(c->wait_for_holder("amsterdam", 15s));
}

CAF_TEST_FIXTURE_SCOPE_END()
