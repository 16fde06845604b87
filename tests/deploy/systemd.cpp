// The Debian package under a real systemd: a Debian host with systemd as PID 1 in a container
// (tests/deploy/systemd_box.sh: mmdebstrap root, systemd-nspawn), the package built from this
// tree installed with `apt-get install ./….deb`, and the service checked with the real systemd
// and journald — readiness, reload, stop, restart after kill -9, the watchdog, the start limit,
// enabled at boot, upgrade, remove, purge and reinstall. The duty is a real python3 process.
// Needs root, systemd-container and mmdebstrap; without them the suite exits 77, which CTest
// reports as skipped. Minutes, not seconds: label `systemd`, outside the default set.
// ctest-labels: systemd
#define CAF_SUITE deploy.systemd
#include "caf/test/dsl.hpp"

#include "support/guard.hpp"
#include "support/package.hpp"
#include "support/process.hpp"

#include <filesystem>
#include <thread>

using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

const std::string box_script = MONTANA_SOURCE_DIR "/tests/deploy/systemd_box.sh";

/// The duty: records its start and its SIGTERM in the service's state directory, else sleeps.
const std::string duty_script = R"(import os, signal, sys, time

def record(what):
    with open("/var/lib/montana/duty.log", "a") as log:
        log.write(f"{what} {os.getpid()}\n")

def on_term(*_):
    record("term")
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
record("start")
while True:
    time.sleep(1)
)";

/// One node "solo" whose duty is the python script and whose breather pushes over SSH to the
/// container's sshd; "ghost", a peer outside the duty's chain that never runs: with host checks
/// its verdict is `alive` only while ICMP echo works (sshd listens on 127.0.0.1 alone, nothing on
/// 443).
const std::string solo_config = R"([cluster]
port = 19333

[[cluster.nodes]]
name = "solo"
host = "127.0.0.1"

[[cluster.nodes]]
name = "ghost"
host = "127.0.0.2"

[probe]
checks = "host"

[duty.bot]
chain = ["solo"]
command = ["/usr/bin/python3", "/usr/local/lib/montana-duty.py"]
startup_delay = "0s"
stop_grace = "2s"

[tls]
key = "/etc/montana/identity/{node}.key"
certificates = "/etc/montana/identity"
registry = "/etc/montana/identity/nodes.json"

[breath]
repo = "/var/lib/montana/repo"
ssh_key = "/etc/montana/identity/git_ed25519"
interval = "1s"
)";

/// solo and "spare" after it in the chain, linked over TLS (no ghost, no breather); spare runs
/// beside the unit as a transient unit of its own, with its own shell socket and state.
const std::string pair_config = R"([cluster]
port = 19333

[[cluster.nodes]]
name = "solo"
host = "127.0.0.1"

[[cluster.nodes]]
name = "spare"
host = "127.0.0.3"

[duty.bot]
command = ["/usr/bin/python3", "/usr/local/lib/montana-duty.py"]
startup_delay = "0s"
stop_grace = "2s"

[tls]
key = "/etc/montana/identity/{node}.key"
certificates = "/etc/montana/identity"
registry = "/etc/montana/identity/nodes.json"
)";

/// The shared repository: a bare one of user git behind the container's sshd (on 127.0.0.1
/// only), the service's key in its authorized_keys, sshd's host key in the service's known_hosts,
/// and the node's clone made as the runbook says (as montana, in /var/lib/montana/repo).
const std::string git_over_ssh = R"(set -e
printf 'ListenAddress 127.0.0.1\n' > /etc/ssh/sshd_config.d/montana-test.conf
systemctl restart ssh
adduser --system --group --shell /bin/sh --home /srv/git git >/dev/null
runuser -u git -- git init -q --bare -b main /srv/git/shared.git
runuser -u montana -- ssh-keygen -q -t ed25519 -N '' -f /etc/montana/identity/git_ed25519
install -d -o git -g git -m 0700 /srv/git/.ssh
install -o git -g git -m 0600 /etc/montana/identity/git_ed25519.pub /srv/git/.ssh/authorized_keys
install -d -o montana -g montana -m 0700 /var/lib/montana/.ssh
ssh-keyscan -t ed25519 127.0.0.1 2>/dev/null > /var/lib/montana/.ssh/known_hosts
chown montana:montana /var/lib/montana/.ssh/known_hosts
cd /var/lib/montana
runuser -u montana -- env HOME=/var/lib/montana \
  GIT_SSH_COMMAND='ssh -i /etc/montana/identity/git_ed25519' sh -ec '
  git init -q -b main repo && cd repo && mkdir data && echo {} > data/users.json && git add data
  git -c user.name=admin -c user.email=admin@montana.invalid commit -qm "first"
  git remote add origin ssh://git@127.0.0.1/srv/git/shared.git && git push -q -u origin main'
)";

/// What a command run inside the container gave.
struct outcome {
  int code = 0;
  std::string out;
};

/// A Debian host with systemd as PID 1 (systemd_box.sh), its writes in the test's directory.
/// Commands run inside with nsenter; the container stops when its systemd-nspawn process is
/// signalled (by pid: it is this test's child).
struct fixture : scratch {
  std::string deb;
  std::string root;
  pid_t nspawn = -1;
  std::string init;

  fixture() : scratch{"systemd"} {
    if (::geteuid() != 0)
      skip("the container needs root");
    for (auto tool : {"mmdebstrap", "systemd-nspawn", "nsenter", "setpriv"})
      if (find_tool(tool).empty())
        skip(std::string{"no "} + tool +
             " here: tests/deploy/systemd_box.sh deps installs systemd-container and mmdebstrap");
    std::string why;
    deb = build_package(dir, why);
    if (deb.empty())
      skip(why);
    auto out = path("root.out");
    auto code = run_tool({box_script, "root", deb}, out, 20min);
    if (code == 77)
      skip(read_file(out));
    if (code != 0)
      GUARD_FAIL("systemd_box.sh root failed with " << code << ":\n" << read_file(out));
    root = read_file(out);
    root.erase(root.find_last_not_of('\n') + 1);
  }

  ~fixture() { stop(); }

  /// Ends the suite's run as skipped (CTest's SKIP_RETURN_CODE), saying why.
  [[noreturn]] void skip(const std::string& why) {
    std::printf("skipped: %s\n", why.c_str());
    std::fflush(stdout);
    clean_up();
    std::_Exit(77);
  }

  /// Boots the container; returns once its systemd says the boot is over.
  void boot() {
    // What a container of an earlier run that ended without stop() left behind.
    run_tool({box_script, "clean"}, path("clean.out"));
    std::string problem;
    nspawn = spawn_child({box_script, "boot", root, dir + "/box"}, "/dev/null", path("nspawn.out"),
                         problem);
    GUARD_REQUIRE(nspawn > 0);
    // Not among live_children, whose SIGKILL would leave the container running without its
    // nspawn: if this process ends first, nspawn gets SIGTERM (systemd_box.sh: --pdeathsig) and
    // shuts the container down.
    // The container's PID 1 is systemd-nspawn's only child.
    auto children =
        "/proc/" + std::to_string(nspawn) + "/task/" + std::to_string(nspawn) + "/children";
    auto deadline = std::chrono::steady_clock::now() + 30s;
    for (init.clear(); init.empty(); std::this_thread::sleep_for(50ms)) {
      if (std::chrono::steady_clock::now() > deadline)
        GUARD_FAIL("no container within 30 s:\n" << read_file(path("nspawn.out")));
      init = read_file(children);
      init.erase(init.find_last_not_of(" \n") + 1);
      // nspawn's outer child, before it becomes the container's init, is in the host's mount
      // namespace; the container's systemd is not.
      if (!init.empty() && read_file("/proc/" + init + "/comm") != "systemd\n")
        init.clear();
    }
    // systemctl needs the manager's socket, which comes a moment after PID 1.
    GUARD_REQUIRE(eventually("test -S /run/systemd/private", 30s));
    auto state = in("systemctl is-system-running --wait", 120s);
    if (state.out != "running\n")
      CAF_MESSAGE("boot: " << state.out << in("systemctl --failed --no-pager").out);
    CAF_CHECK_EQUAL(state.out, "running\n");
  }

  /// Stops the container by signalling systemd-nspawn (an orderly shutdown of its systemd), then
  /// removes the empty cgroups it leaves.
  void stop() {
    if (nspawn <= 0)
      return;
    ::kill(nspawn, SIGTERM);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (::waitpid(nspawn, &status, WNOHANG) != nspawn) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(nspawn, SIGKILL);
        ::waitpid(nspawn, &status, 0);
        break;
      }
      std::this_thread::sleep_for(50ms);
    }
    nspawn = -1;
    run_tool({box_script, "clean"}, path("clean.out"));
  }

  /// Runs `script` with /bin/sh inside the container, as root, with a clean environment.
  outcome in(const std::string& script, std::chrono::milliseconds timeout = 60s) {
    static const std::string nsenter = find_tool("nsenter");
    auto out = path("in.out");
    auto code =
        run_tool({nsenter, "-t", init, "-a", "/usr/bin/env", "-i",
                  "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "/bin/sh", "-c", script},
                 out, timeout);
    return {code, read_file(out)};
  }

  /// `script`'s output; the test fails when it exits non-zero.
  std::string must(const std::string& script, std::chrono::milliseconds timeout = 60s) {
    auto x = in(script, timeout);
    if (x.code != 0)
      GUARD_FAIL("in the container, `" << script << "` exited with " << x.code << ":\n" << x.out);
    return x.out;
  }

  /// Whether `script` exits 0 within `timeout` (tried every 100 ms).
  bool eventually(const std::string& script, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (in(script).code == 0)
        return true;
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(100ms);
    }
  }

  /// A property of the service (`systemctl show`), without its trailing newline.
  std::string service(const std::string& property) {
    auto x = must("systemctl show -P " + property + " montana-actors.service");
    x.erase(x.find_last_not_of('\n') + 1);
    return x;
  }

  /// The journal of the service: its own lines and systemd's about it.
  std::string journal() { return must("journalctl -u montana-actors.service -o cat --no-pager"); }

  /// Copies `file` of this host to `to` in the container.
  void copy_in(const std::string& file, const std::string& to) {
    std::filesystem::copy_file(file, "/proc/" + init + "/root" + to,
                               std::filesystem::copy_options::overwrite_existing);
  }

  /// Writes `text` to `to` in the container.
  void write_in(const std::string& to, const std::string& text) {
    GUARD_REQUIRE(write_file("/proc/" + init + "/root" + to, text));
  }

  /// Installs the package and makes the container the prepared host "solo" of the runbook
  /// (docs/operations.md, "First install"): configuration, identity, registry, node name.
  void install_solo(const std::string& config = solo_config) {
    copy_in(deb, "/root/montana-actors.deb");
    auto installed = in("apt-get install -y ./root/montana-actors.deb", 300s);
    if (installed.code != 0)
      GUARD_FAIL("apt-get install failed:\n" << installed.out);
    // A fresh host: installed and enabled, not started (no node name yet).
    CAF_CHECK_EQUAL(service("UnitFileState"), "enabled");
    CAF_CHECK_EQUAL(service("ActiveState"), "inactive");
    write_in("/usr/local/lib/montana-duty.py", duty_script);
    write_in("/etc/montana/montana.toml", config);
    if (contains(config, "[breath]"))
      must(git_over_ssh);
    must("runuser -u montana -- montana-actors identity new solo --out /etc/montana/identity && "
         "runuser -u montana -- montana-actors identity register --config "
         "/etc/montana/montana.toml --cert /etc/montana/identity/solo.crt --registry "
         "/etc/montana/identity/nodes.json && "
         "sed -i 's/^MONTANA_NODE_NAME=.*/MONTANA_NODE_NAME=solo/' /etc/montana/montana.env");
  }

  /// Serves /srv/git over HTTPS on localhost:8443 (tests/deploy/git_https.py as user git, a
  /// transient unit) with a certificate made here, which the container's CA bundle trusts.
  void serve_git_over_https() {
    GUARD_REQUIRE(!openssl_tool().empty());
    auto out = path("openssl.out");
    GUARD_REQUIRE(run_tool({openssl_tool(), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("https.key"),
                            "-out", path("https.crt"), "-days", "2", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost"},
                           out) == 0);
    must("mkdir -p /srv/https");
    copy_in(MONTANA_SOURCE_DIR "/tests/deploy/git_https.py", "/srv/https/git_https.py");
    copy_in(path("https.crt"), "/srv/https/https.crt");
    copy_in(path("https.key"), "/srv/https/https.key");
    // A minbase root has no /etc/hosts (a real host does) and no CA bundle.
    must("set -e; chown -R git:git /srv/https; grep -qs localhost /etc/hosts || "
         "echo '127.0.0.1 localhost' >> /etc/hosts; install -D -m 0644 /srv/https/https.crt "
         "/etc/ssl/certs/ca-certificates.crt; runuser -u git -- git -C /srv/git/shared.git "
         "config http.receivepack true; systemd-run --quiet --unit=git-https -p User=git "
         "python3 /srv/https/git_https.py /srv/git /srv/https/https.crt /srv/https/https.key "
         "8443");
    GUARD_REQUIRE(eventually("python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", "
                             "8443))' 2>/dev/null",
                             10s));
  }

  /// The pids of the duty's processes that ran, in order of their start.
  std::vector<std::string> duty_starts() {
    std::vector<std::string> pids;
    std::istringstream log{in("cat /var/lib/montana/duty.log").out};
    for (std::string what, pid; log >> what >> pid;)
      if (what == "start")
        pids.push_back(pid);
    return pids;
  }

  /// Waits for the duty's start number `n` (from 1) and returns its pid.
  std::string duty_start(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      if (auto pids = duty_starts(); pids.size() >= n)
        return pids[n - 1];
      if (std::chrono::steady_clock::now() > deadline)
        GUARD_FAIL("no duty start #" << n << " within 30 s; journal:\n" << journal());
      std::this_thread::sleep_for(100ms);
    }
  }

  /// Whether process `pid` lives in the container.
  bool alive(const std::string& pid) { return in("kill -0 " + pid).code == 0; }

  /// Processes of the service user left in the container.
  std::string montana_processes() { return in("pgrep -a -u montana").out; }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(systemd_tests, fixture)

CAF_TEST(the packaged service runs under systemd as the unit promises) {
  boot();
  install_solo();

  // Type=notify: `systemctl start` returns once the node said READY=1, whose STATUS= is there.
  must("systemctl start montana-actors");
  CAF_CHECK_EQUAL(service("ActiveState"), "active");
  CAF_CHECK(service("StatusText").starts_with("node solo"));
  auto log = journal();
  auto up = log.find("[solo] node up on 127.0.0.1:19333");
  auto started = log.find("Started montana-actors.service");
  CAF_CHECK(up != std::string::npos && started != std::string::npos && up < started);
  auto main_pid = service("MainPID");
  CAF_CHECK_EQUAL(must("echo $(ps -o user=,comm= -p " + main_pid + ")"),
                  "montana montana-actors\n");

  // The duty: a python3 process of the service user, in the service's cgroup.
  auto duty = duty_start(1);
  CAF_CHECK_EQUAL(must("echo $(ps -o user=,comm= -p " + duty + ")"), "montana python3\n");
  CAF_CHECK(contains(must("cat /sys/fs/cgroup" + service("ControlGroup") + "/cgroup.procs"),
                     duty + "\n"));
  CAF_CHECK(
      eventually("systemctl show -P StatusText montana-actors | grep -q 'duty bot: holder'", 15s));

  // What the unit's hardening must leave working, under the real systemd. The shell socket:
  // 0660 for root and group montana (UMask=0077 does not apply to it), root's shell is served.
  CAF_CHECK_EQUAL(must("stat -c '%a %U %G' /run/montana/solo.sock"), "660 montana montana\n");
  // ICMP echo with the unit's CAP_NET_RAW: ghost answers nothing but ICMP.
  CAF_CHECK(
      eventually("montana-actors shell --node solo status | grep -Eq '^  ghost +alive '", 10s));
  // The breather over SSH (libgit2 and libssh2 in montana-git-transfer): the duty's write
  // reaches the shared repository.
  must("echo '{\"1\": {\"first_name\": \"ann\"}}' > /var/lib/montana/repo/data/users.json");
  CAF_CHECK(eventually("runuser -u git -- git -C /srv/git/shared.git show main:data/users.json "
                       "| grep -q ann",
                       20s));
  CAF_CHECK(contains(must("runuser -u git -- git -C /srv/git/shared.git log -1 --format=%an main"),
                     "montana solo"));
  // And over HTTPS (libgit2's TLS, the certificate checked against the system's CA bundle):
  // git http-backend behind a TLS server in the container, the clone's remote switched to it.
  serve_git_over_https();
  must("runuser -u montana -- git -C /var/lib/montana/repo remote set-url origin "
       "https://localhost:8443/shared.git");
  must("echo '{\"2\": {\"first_name\": \"bob\"}}' > /var/lib/montana/repo/data/users.json");
  CAF_CHECK(eventually("runuser -u git -- git -C /srv/git/shared.git show main:data/users.json "
                       "| grep -q bob",
                       20s));
  CAF_CHECK(contains(must("journalctl -u git-https -o cat"), "POST /shared.git/git-receive-pack"));

  // Reload: `Reloaded` in the journal means systemd delivered SIGHUP (ExecReload is a kill);
  // the node's own line says what it applied.
  must("sed -i 's/^stop_grace = \"2s\"/stop_grace = \"3s\"/' /etc/montana/montana.toml");
  must("systemctl reload montana-actors");
  CAF_CHECK(eventually(
      "journalctl -u montana-actors -o cat | grep -q 'configuration reloaded: .*bot'", 15s));
  CAF_CHECK(contains(journal(), "Reloaded montana-actors.service"));
  CAF_CHECK_EQUAL(service("MainPID"), main_pid);
  CAF_CHECK_EQUAL(service("ActiveState"), "active");

  // kill -9: the duty dies with its parent (PDEATHSIG), Restart=always starts the node again
  // after RestartSec, and it starts a new duty.
  must("kill -9 " + main_pid);
  CAF_CHECK(eventually("! kill -0 " + duty, 2s));
  CAF_CHECK(eventually("test \"$(systemctl show -P NRestarts montana-actors)\" = 1 && "
                       "systemctl is-active -q montana-actors",
                       30s));
  CAF_CHECK_NOT_EQUAL(service("MainPID"), main_pid);
  duty = duty_start(2);
  CAF_CHECK(alive(duty));
  CAF_CHECK(contains(journal(), "Main process exited, code=killed, status=9/KILL"));

  // SIGSTOP: no more watchdog pings, systemd kills it with SIGABRT (no systemd-coredump here)
  // and restarts it. A drop-in shortens WatchdogSec=30s to keep the wait short.
  must("mkdir -p /etc/systemd/system/montana-actors.service.d && printf "
       "'[Service]\\nWatchdogSec=4s\\n' > /etc/systemd/system/montana-actors.service.d/"
       "watchdog.conf && systemctl daemon-reload && systemctl restart montana-actors");
  duty = duty_start(3);
  main_pid = service("MainPID");
  must("kill -STOP " + main_pid);
  CAF_CHECK(eventually("test \"$(systemctl show -P NRestarts montana-actors)\" = 1 && "
                       "systemctl is-active -q montana-actors",
                       40s));
  log = journal();
  CAF_CHECK(contains(log, "Watchdog timeout (limit 4s)!"));
  CAF_CHECK(contains(log, "Main process exited, code=killed, status=6/ABRT"));
  CAF_CHECK(!alive(duty));
  duty = duty_start(4);
  must("rm /etc/systemd/system/montana-actors.service.d/watchdog.conf && systemctl "
       "daemon-reload");

  // stop: the node leaves (its duty gets SIGTERM) and nothing of the service is left.
  must("systemctl stop montana-actors", 90s);
  CAF_CHECK_EQUAL(service("ActiveState"), "inactive");
  CAF_CHECK(contains(must("cat /var/lib/montana/duty.log"), "term " + duty + "\n"));
  CAF_CHECK_EQUAL(montana_processes(), "");
  CAF_CHECK(contains(journal(), "Deactivated successfully"));
  // The last status a stopped node leaves is what happened, not what was under way.
  CAF_CHECK_EQUAL(service("StatusText"), "node solo left the cluster");

  // The control for the ICMP check above: without CAP_NET_RAW ghost does not answer.
  must("printf '[Service]\\nAmbientCapabilities=\\n' > /etc/systemd/system/"
       "montana-actors.service.d/no-raw.conf && systemctl daemon-reload && "
       "systemctl start montana-actors");
  duty = duty_start(5);
  CAF_CHECK(eventually("montana-actors shell --node solo status | "
                       "grep -Eq '^  ghost +unknown .*no answer to ICMP, 22 or 443'",
                       10s));
  must("rm /etc/systemd/system/montana-actors.service.d/no-raw.conf && systemctl daemon-reload");

  // Enabled at boot: after a reboot of the host the node runs again.
  stop();
  boot();
  CAF_CHECK_EQUAL(service("ActiveState"), "active");
  CAF_CHECK(
      eventually("systemctl show -P StatusText montana-actors | grep -q 'duty bot: holder'", 15s));
  CAF_CHECK_EQUAL(duty_starts().size(), 6u);
}

CAF_TEST(upgrade start limit remove purge and reinstall under systemd) {
  boot();
  install_solo();
  must("systemctl start montana-actors");
  auto duty = duty_start(1);
  auto main_pid = service("MainPID");

  // An upgrade (the next Debian revision) restarts a running node: try-restart.
  std::string why;
  auto next = build_package(dir, why, 2);
  GUARD_REQUIRE(!next.empty());
  copy_in(next, "/root/montana-actors-2.deb");
  must("apt-get install -y ./root/montana-actors-2.deb", 300s);
  CAF_CHECK_EQUAL(service("ActiveState"), "active");
  CAF_CHECK_NOT_EQUAL(service("MainPID"), main_pid);
  CAF_CHECK(contains(must("cat /var/lib/montana/duty.log"), "term " + duty + "\n"));
  duty = duty_start(2);

  // An upgrade leaves a stopped node stopped.
  must("systemctl stop montana-actors", 90s);
  must("apt-get install -y --reinstall ./root/montana-actors-2.deb", 300s);
  CAF_CHECK_EQUAL(service("ActiveState"), "inactive");

  // remove: stopped, nothing left running; configuration, identity and state stay.
  must("systemctl start montana-actors");
  duty = duty_start(3);
  must("apt-get remove -y montana-actors", 300s);
  CAF_CHECK_EQUAL(montana_processes(), "");
  CAF_CHECK(contains(must("cat /var/lib/montana/duty.log"), "term " + duty + "\n"));
  CAF_CHECK_EQUAL(must("test -e /etc/montana/montana.env && test -e /etc/montana/identity/solo.key "
                       "&& echo kept"),
                  "kept\n");

  // Reinstall after remove: the prepared host runs its node again, enabled, with a fresh status.
  must("apt-get install -y ./root/montana-actors-2.deb", 300s);
  CAF_CHECK_EQUAL(service("ActiveState"), "active");
  CAF_CHECK_EQUAL(service("UnitFileState"), "enabled");
  auto status = service("StatusText");
  CAF_CHECK(status.starts_with("node solo"));
  CAF_CHECK(!contains(status, "leaving"));
  if (!status.starts_with("node solo") || contains(status, "leaving"))
    CAF_MESSAGE("after the reinstall: " << service("ActiveState") << ", status '" << status << "'");
  duty = duty_start(4);
  CAF_CHECK(alive(duty));

  // A node name that is not in the configuration: every start fails (exit 2), and after five
  // starts within StartLimitIntervalSec systemd gives up instead of trying forever.
  // reset-failed first: the starts above count too.
  must("sed -i 's/^MONTANA_NODE_NAME=.*/MONTANA_NODE_NAME=nosuchnode/' /etc/montana/montana.env "
       "&& systemctl reset-failed montana-actors && systemctl restart --no-block montana-actors");
  CAF_CHECK(eventually("journalctl -u montana-actors -o cat | "
                       "grep -q 'montana-actors.service: Start request repeated too quickly.'",
                       90s));
  CAF_CHECK_EQUAL(service("ActiveState"), "failed");
  CAF_CHECK_EQUAL(service("NRestarts"), "5");
  CAF_CHECK(contains(journal(), "montana-actors: unknown node 'nosuchnode' (known: solo, ghost)"));
  CAF_CHECK(contains(journal(), "status=2/INVALIDARGUMENT"));
  CAF_CHECK_EQUAL(montana_processes(), "");
  // Given up for good: no further start after RestartSec.
  std::this_thread::sleep_for(7s);
  CAF_CHECK_EQUAL(service("NRestarts"), "5");
  CAF_CHECK_EQUAL(service("ActiveState"), "failed");

  // purge: the environment file (secrets) goes; identity and state stay. A reinstall after a
  // purge is a first install: a host without a node name stays stopped.
  must("apt-get purge -y montana-actors", 300s);
  CAF_CHECK_EQUAL(in("test -e /etc/montana/montana.env").code, 1);
  CAF_CHECK_EQUAL(in("test -e /etc/montana/identity/solo.key").code, 0);
  must("apt-get install -y ./root/montana-actors-2.deb", 300s);
  CAF_CHECK_EQUAL(service("ActiveState"), "inactive");
  CAF_CHECK_EQUAL(service("UnitFileState"), "enabled");
}

CAF_TEST(systemctl stop hands the duty over to the next node) {
  boot();
  install_solo(pair_config);
  write_in("/etc/montana/spare.toml",
           pair_config + "\n[shell]\nsocket = \"/run/montana-spare/{node}.sock\"\n\n[state]\n"
                         "dir = \"/var/lib/montana/spare\"\n");
  must("runuser -u montana -- montana-actors identity new spare --out /etc/montana/identity && "
       "runuser -u montana -- montana-actors identity register --config "
       "/etc/montana/montana.toml --cert /etc/montana/identity/spare.crt --registry "
       "/etc/montana/identity/nodes.json");
  must("systemctl start montana-actors");
  auto held = duty_start(1);
  must("systemd-run --quiet --unit=montana-spare -p User=montana -p RuntimeDirectory=montana-spare "
       "-E MONTANA_NODE_NAME=spare /usr/bin/montana-actors run --config /etc/montana/spare.toml");
  CAF_CHECK(eventually(
      "systemctl show -P StatusText montana-actors | grep -q '1 of 1 peers linked'", 20s));
  auto spare = [this] {
    return in("montana-actors shell --socket /run/montana-spare/spare.sock status").out;
  };
  CAF_CHECK(contains(spare(), "duty bot: standby"));

  // The holder leaves: the next node claims, the holder's duty gets SIGTERM, and only once it is
  // gone does the next node start its own — all within TimeoutStopSec, nothing killed.
  must("systemctl stop montana-actors", 90s);
  auto taken = duty_start(2);
  auto spare_pid = must("systemctl show -P MainPID montana-spare");
  CAF_CHECK_EQUAL(must("echo $(ps -o ppid= -p " + taken + ")"), spare_pid);
  auto log = must("cat /var/lib/montana/duty.log");
  auto term = log.find("term " + held + "\n");
  auto start = log.find("start " + taken + "\n");
  CAF_CHECK(term != std::string::npos && start != std::string::npos && term < start);
  CAF_CHECK(eventually("montana-actors shell --socket /run/montana-spare/spare.sock status | "
                       "grep -q 'duty bot: holder'",
                       10s));
  CAF_CHECK(!contains(journal(), "timed out"));
  CAF_CHECK_EQUAL(service("StatusText"), "node solo left the cluster");
  // Nothing of the unit is left (spare runs on, in a unit of its own): systemd removed its cgroup.
  CAF_CHECK_EQUAL(in("test -e /sys/fs/cgroup/system.slice/montana-actors.service").code, 1);
}

CAF_TEST_FIXTURE_SCOPE_END()
