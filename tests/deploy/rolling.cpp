// deploy/deploy.sh, the rolling deploy: its plan (--dry-run) against five in-process nodes (their
// shells reached through tests/deploy/local_ssh, an ssh stand-in), and a real roll over SSH to
// five test hosts (tests/deploy/fake_host.sh: each a private overlay copy
// of this machine with its own sshd, the package installed by the real dpkg and run by the
// systemctl stand-in as the unit says, on its own loopback address), judged by the duty
// recorder's records: every node restarted, the duty never ran twice.
#define CAF_SUITE deploy.rolling
#include "caf/test/dsl.hpp"

#include "runtime/identity.hpp"
#include "runtime/registry.hpp"
#include "support/cluster.hpp"
#include "support/files.hpp"
#include "support/guard.hpp"
#include "support/package.hpp"
#include "support/process.hpp"

#include <nlohmann/json.hpp>

#include <random>
#include <sstream>
#include <sys/stat.h>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> five{"amsterdam", "moscow", "almaty", "spb", "novosibirsk"};
const std::string deploy_script = MONTANA_SOURCE_DIR "/deploy/deploy.sh";
const std::string local_ssh = MONTANA_SOURCE_DIR "/tests/deploy/local_ssh";

/// Runs deploy.sh with `args` to its end; its exit code and everything it printed.
std::pair<int, std::string> deploy(const std::string& dir, std::vector<std::string> args,
                                   std::chrono::milliseconds timeout = 60s) {
  args.insert(args.begin(), deploy_script);
  auto out = dir + "/deploy.out";
  auto code = run_tool(args, out, timeout);
  return {code, read_file(out)};
}

/// The "would upgrade NAME" lines of a dry run, in order.
std::vector<std::string> planned(const std::string& output) {
  std::vector<std::string> out;
  std::istringstream lines{output};
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("would upgrade "))
      out.push_back(line.substr(14, line.find(' ', 14) - 14));
  return out;
}

} // namespace

CAF_TEST(a dry run plans the standbys in reverse chain order and the holder last) {
  cluster c;
  live_dir = c.dir();
  auto config = c.write_config_file();
  std::string why;
  auto deb = build_package(c.dir(), why);
  if (deb.empty()) {
    CAF_MESSAGE("skipped: " << why);
    return;
  }
  c.start_all();
  GUARD_REQUIRE(c.wait_for_holder("amsterdam", 15s));
  auto ssh = "env MONTANA_TEST_BINARY=" MONTANA_BINARY_PATH " MONTANA_TEST_CONFIG=" + config + " " +
             local_ssh;
  std::vector<std::string> base{"--dry-run", "--package",         deb,     "--config", config,
                                "--binary",  MONTANA_BINARY_PATH, "--ssh", ssh};
  auto [code, out] = deploy(c.dir(), base);
  CAF_CHECK_EQUAL(code, 0);
  CAF_CHECK_EQUAL(planned(out), (std::vector<std::string>{"novosibirsk", "spb", "almaty", "moscow",
                                                          "amsterdam"}));
  CAF_CHECK(contains(out, "would upgrade amsterdam (root@" + c.cfg().nodes[0].host + "; holder)"));
  CAF_CHECK(contains(out, "holders now: amsterdam;"));

  // moscow holds after amsterdam stepped down: moscow goes last, amsterdam with the standbys.
  {
    caf::scoped_actor self{c.at("amsterdam").system()};
    self->request(c.at("amsterdam").leaders().at("bot"), 30s, step_down_atom::value,
                  std::string{"test"})
        .receive([](const action_result&) {}, [](caf::error&) {});
  }
  GUARD_REQUIRE(c.wait_for_holder("moscow", 15s));
  std::tie(code, out) = deploy(c.dir(), base);
  CAF_CHECK_EQUAL(planned(out), (std::vector<std::string>{"novosibirsk", "spb", "almaty",
                                                          "amsterdam", "moscow"}));
  // --node picks nodes out of that order.
  auto some = base;
  some.insert(some.end(), {"--node", "moscow", "--node", "spb"});
  std::tie(code, out) = deploy(c.dir(), some);
  CAF_CHECK_EQUAL(planned(out), (std::vector<std::string>{"spb", "moscow"}));
  // A node that does not run is planned, but not waited for.
  c.kill("novosibirsk");
  CAF_CHECK(wait_until(
      [&] {
        return contains(deploy(c.dir(), base).second,
                        "would upgrade novosibirsk (root@" + c.cfg().nodes[4].host +
                            "; not reachable: installed, not waited for)");
      },
      10s));

  // Bad usage is refused with one line and exit 2, before anything is touched.
  auto unknown = base;
  unknown.insert(unknown.end(), {"--node", "berlin"});
  std::tie(code, out) = deploy(c.dir(), unknown);
  CAF_CHECK_EQUAL(code, 2);
  CAF_CHECK(
      contains(out, "unknown node 'berlin' (known: amsterdam moscow almaty spb novosibirsk)"));
  std::tie(code, out) = deploy(c.dir(), {"--config", config});
  CAF_CHECK_EQUAL(code, 2);
  CAF_CHECK(contains(out, "--package is required"));
  live_dir.clear();
}

CAF_TEST(a real roll upgrades five hosts one by one and the duty never runs twice) {
  auto sshd = fs::exists("/usr/sbin/sshd");
  if (::geteuid() != 0 || find_tool("unshare").empty() || !sshd || find_tool("ssh").empty() ||
      find_tool("jq").empty() || find_tool("ssh-keygen").empty()) {
    CAF_MESSAGE("skipped: the test hosts need root, unshare, openssh-server, ssh and jq "
                "(deploy/install-deps.sh)");
    return;
  }
  auto dir = make_test_dir("rolling");
  live_dir = dir;
  std::string why;
  // The hosts start with revision 1; the roll upgrades them to revision 2 of the same build.
  auto deb = build_package(dir, why);
  if (deb.empty()) {
    CAF_MESSAGE("skipped: " << why);
    clean_up();
    return;
  }
  auto upgrade = build_package(dir, why, 2);
  // The five hosts' cluster on a private 127.x.y.1-5 block, with the test profile's timings.
  std::random_device rd;
  auto block = "127." + std::to_string(1 + rd() % 250) + "." + std::to_string(1 + rd() % 250) + ".";
  auto port = free_port(block + "1");
  auto ssh_port = free_port(block + "1");
  auto setup = dir + "/setup";
  auto shared = dir + "/shared";
  fs::create_directories(setup + "/certs");
  fs::create_directories(shared);
  fs::permissions(shared, fs::perms::all | fs::perms::sticky_bit); // the duty runs as montana
  auto cfg = parse_config(default_config_text(), "<default>");
  for (size_t i = 0; i < cfg.nodes.size(); ++i) {
    cfg.nodes[i].host = block + std::to_string(i + 1);
    cfg.nodes[i].port = port;
  }
  cfg.status = {};
  // Probe and channel keep the defaults, as on real hosts: with the fast profile's 1 s
  // unknown grace a host restarted on two busy cores was dialed too late and ran the duty.
  auto& duty = cfg.duties.at(0);
  // The recorder goes to the shared directory, which every host binds in: the build directory
  // may not be visible inside a host (it may lie on a mount the host's overlay does not show).
  fs::copy_file(MONTANA_RECORDER_PATH, shared + "/recorder");
  duty.command = {shared + "/recorder"};
  duty.env["MONTANA_RECORD"] = shared + "/records";
  duty.startup_delay = duration{500};
  duty.stop_grace = duration{2000};
  GUARD_REQUIRE(write_file(setup + "/montana.toml", config_text(cfg)));
  // Identities: the hosts get the certificates and the registry.
  auto ids = dir + "/ids";
  auto registry = setup + "/nodes.json";
  for (const auto& n : five) {
    auto info = create_identity(n, ids);
    register_identity(registry, info.files.cert_path, cfg, n);
    fs::copy_file(info.files.cert_path, setup + "/certs/" + n + ".crt");
    fs::copy_file(info.files.key_path, setup + "/" + n + ".key");
  }
  GUARD_REQUIRE(run_tool({find_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f",
                          setup + "/id_ed25519"},
                         dir + "/keygen.out") == 0);
  // The admin's side: the same cluster.
  auto admin_config = dir + "/admin.toml";
  GUARD_REQUIRE(write_file(admin_config, config_text(cfg)));
  auto ssh = "ssh -p " + std::to_string(ssh_port) + " -i " + setup +
             "/id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no "
             "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR";
  std::vector<std::string> ssh_argv;
  {
    std::istringstream words{ssh};
    for (std::string w; words >> w;)
      ssh_argv.push_back(w);
    ssh_argv[0] = find_tool("ssh");
  }
  auto host_of = [&](const std::string& node) { return "root@" + cfg.find_node(node)->host; };

  std::vector<pid_t> hosts;
  auto end_hosts = [&] {
    // SIGTERM: each host stops its service and sshd and unmounts its copy.
    for (auto pid : hosts)
      ::kill(pid, SIGTERM);
    for (auto pid : hosts) {
      if (!wait_until([&] { return ::waitpid(pid, nullptr, WNOHANG) == pid; }, 30s)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
      std::erase(live_children, pid);
    }
    hosts.clear();
  };
  for (size_t i = 0; i < five.size(); ++i) {
    std::string problem;
    auto pid = spawn_child({MONTANA_SOURCE_DIR "/tests/deploy/fake_host.sh", five[i],
                            cfg.nodes[i].host, std::to_string(ssh_port), deb, setup, shared},
                           "/dev/null", shared + "/" + five[i] + ".host.log", problem);
    if (pid < 0) {
      end_hosts();
      GUARD_FAIL(problem);
    }
    hosts.push_back(pid);
    live_children.push_back(pid);
  }
  // One answer of the host's own shell, over SSH; on a loaded machine an attempt may fail, so up
  // to three.
  auto shell_json = [&](const std::string& node, const std::string& command) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto argv = ssh_argv;
      argv.push_back(host_of(node));
      argv.push_back("montana-actors shell --node " + node + " --json " + command);
      auto out_file = dir + "/shell.out";
      auto code = run_tool(argv, out_file, 20s);
      auto text = read_file(out_file);
      if (code == 0)
        return json::parse(text);
      CAF_MESSAGE("shell --node " << node << " " << command << ": " << text);
    }
    return json{};
  };
  auto settled = wait_until(
      [&] {
        for (const auto& n : five)
          if (!fs::exists(shared + "/" + n + ".ready"))
            return false;
        auto view = shell_json("amsterdam", "cluster");
        if (!view.is_array() || view.size() != five.size())
          return false;
        for (const auto& v : view)
          if (v["reachable"] != true)
            return false;
        // ... and its duty has started: the records must show the roll, not an idle cluster.
        return view[0]["status"]["duties"][0]["role"] == "holder" &&
               !read_records(shared + "/records").empty();
      },
      60s);
  if (!settled) {
    for (const auto& n : five)
      CAF_MESSAGE(n << ":\n" << read_file(shared + "/" + n + ".host.log"));
    end_hosts();
    GUARD_FAIL("the five test hosts did not form a cluster with amsterdam holding the duty");
  }
  std::map<std::string, std::string> before;
  for (const auto& n : five)
    wait_until(
        [&] {
          auto status = shell_json(n, "status");
          if (status.is_object() && status["incarnation"].is_string())
            before[n] = status["incarnation"].get<std::string>();
          return !before[n].empty();
        },
        30s);

  auto [code, out] = deploy(dir,
                            {"--package", upgrade, "--config", admin_config, "--binary",
                             MONTANA_BINARY_PATH, "--ssh", ssh, "--timeout", "90"},
                            400s);
  CAF_CHECK_EQUAL(code, 0);
  // One host after the other, in the planned order, each healthy before the next.
  size_t at = 0;
  for (const auto* n : {"novosibirsk", "spb", "almaty", "moscow", "amsterdam"}) {
    auto copy = out.find(std::string{"deploy: "} + n + ": copying", at);
    auto healthy = out.find(std::string{"deploy: "} + n + ": healthy", at);
    CAF_CHECK(copy != std::string::npos && healthy != std::string::npos && copy < healthy);
    at = healthy == std::string::npos ? at : healthy;
  }
  CAF_CHECK(
      contains(out, "deploy: done: novosibirsk spb almaty moscow amsterdam run montana-actors"));
  if (code != 0) {
    CAF_MESSAGE("deploy.sh:\n" << out);
    for (const auto& n : five) {
      auto log = read_file(shared + "/" + n + ".log/montana-actors.log");
      CAF_MESSAGE(n << "'s service, last lines:\n"
                    << log.substr(log.size() > 6000 ? log.size() - 6000 : 0));
    }
  }
  // Every host has revision 2 installed and runs a new incarnation; the duty is back on
  // amsterdam, and it never ran twice.
  for (size_t i = 0; i < five.size(); ++i) {
    auto query = ssh_argv;
    query.insert(query.end(), {host_of(five[i]), "dpkg-query -W -f '${Version}' montana-actors"});
    auto out_file = dir + "/" + five[i] + ".version";
    CAF_CHECK_EQUAL(run_tool(query, out_file), 0);
    CAF_CHECK_EQUAL(read_file(out_file), MONTANA_VERSION "-2");
  }
  for (const auto& n : five) {
    auto now = shell_json(n, "status");
    CAF_CHECK(now.is_object() && now["incarnation"] != before[n]);
    if (!now.is_object() || now["incarnation"] == before[n])
      CAF_MESSAGE(n << ": before " << before[n] << ", now " << now.dump());
  }
  auto view = shell_json("moscow", "cluster");
  std::vector<std::string> holders;
  for (const auto& v : view)
    if (v["reachable"] == true && v["status"]["duties"][0]["role"] == "holder")
      holders.push_back(v["node"].get<std::string>());
  CAF_CHECK_EQUAL(holders, std::vector<std::string>{"amsterdam"});
  auto records = read_records(shared + "/records");
  CAF_CHECK_EQUAL(max_overlap(records), 1);
  if (max_overlap(records) != 1) {
    CAF_MESSAGE("records:\n" << read_file(shared + "/records"));
    // Who judged whom dead, and why: every host's role, probe and link lines.
    for (const auto& n : five) {
      std::istringstream log{read_file(shared + "/" + n + ".log/montana-actors.log")};
      std::string lines;
      for (std::string line; std::getline(log, line);)
        if (contains(line, "] duty ") || contains(line, "] probe ") || contains(line, "] peer ") ||
            contains(line, "] node up ") || contains(line, "] node stopped"))
          lines += line + "\n";
      CAF_MESSAGE(n << "'s roles, verdicts and links:\n" << lines);
    }
  }
  size_t starts = 0;
  for (const auto& r : records)
    starts += r.what == "start" ? 1 : 0;
  CAF_CHECK(starts >= 3u); // amsterdam, moscow while amsterdam restarted, amsterdam again
  end_hosts();
  clean_up();
}
