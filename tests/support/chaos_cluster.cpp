#include "support/chaos_cluster.hpp"

#include "runtime/trust.hpp"
#include "support/files.hpp"
#include "support/http_exchange.hpp"
#include "support/spawn.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <sys/wait.h>
#include <thread>

namespace montana::testing {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr uint16_t channel_port = 19333;
constexpr uint16_t status_port = 9333;
const std::string telegram_host = "telegram";

int64_t wall_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

/// Waits until `path` holds `text`, or the process `pid` ended, or `timeout` passed.
bool wait_for_output(const std::string& path, const std::string& text, pid_t pid,
                     std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!contains(read_file(path), text)) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid || std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

/// SIGKILLs `pid` and reaps it.
void end_process(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

} // namespace

std::string chaos_cluster::unavailable() {
  if (auto why = netns_unavailable(); !why.empty())
    return why;
  if (!fs::exists(python))
    return python + " is missing (Debian package python3; deploy/install-deps.sh)";
  return {};
}

config chaos_config(const chaos_plan& plan, const std::vector<net_host>& nodes,
                    const telegram_standin& telegram, const std::string& dir) {
  auto cfg = parse_config(default_config_text(), "<default>");
  for (auto& n : cfg.nodes) {
    for (const auto& h : nodes)
      if (h.name == n.name)
        n.host = h.address;
    n.port = channel_port;
    // With latency the relay owns the address the others dial; the node sits behind it.
    n.bind = plan.delay_ms > 0 ? "127.0.0.1" : "";
  }
  cfg.state.dir = dir + "/state/{node}";
  cfg.shell.socket = dir + "/{node}.sock";
  cfg.status.enabled = true;
  cfg.status.host = "127.0.0.1";
  cfg.status.port = status_port;
  auto& duty = cfg.duties.at(0);
  duty.command = {python, duty_script};
  duty.env["MONTANA_TELEGRAM_API"] = telegram.api_url(plan.https);
  duty.env["MONTANA_TELEGRAM_TOKEN"] = telegram.token();
  duty.env["MONTANA_TELEGRAM_POLL_TIMEOUT"] = std::to_string(plan.poll_timeout_s);
  if (plan.https)
    duty.env["MONTANA_TELEGRAM_CA"] = telegram.ca_file();
  create_cluster_identities(cfg, dir + "/identities");
  if (plan.tweak)
    plan.tweak(cfg);
  return cfg;
}

chaos_cluster::chaos_cluster(chaos_plan plan) : plan_(std::move(plan)) {
  if (auto why = unavailable(); !why.empty())
    throw net_error(why);
  auto tmpl = (fs::temp_directory_path() / "montana-chaos-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + tmpl + " failed");
  dir_ = tmpl;
  auto defaults = parse_config(default_config_text(), "<default>");
  std::vector<net_host> hosts;
  for (size_t i = 0; i < defaults.nodes.size(); ++i)
    hosts.push_back({defaults.nodes[i].name, "198.18.0." + std::to_string(i + 1)});
  auto node_hosts = hosts;
  hosts.push_back({telegram_host, "198.18.1.1"});
  auto keep = std::getenv("MONTANA_CHAOS_KEEP");
  net_ = std::make_unique<test_net>(
      hosts, keep != nullptr && std::string{keep} == "1" ? std::string{} : dir_);
  telegram_standin::options t;
  t.dir = dir_;
  t.address = net_->address(telegram_host);
  t.https_port = plan_.https ? 8443 : 0;
  telegram_ = std::make_unique<telegram_standin>(
      t,
      [this](const std::vector<std::string>& argv, const std::string& out, std::string& problem) {
        return net_->spawn(telegram_host, argv, out, problem);
      },
      [this](const std::string& address, uint16_t port, std::string& problem) {
        return net_->connect_from(telegram_host, address, port, 2s, problem);
      });
  cfg_ = chaos_config(plan_, node_hosts, *telegram_, dir_);
  config_path_ = dir_ + "/montana.toml";
  if (!write_file(config_path_, config_text(cfg_)))
    throw std::runtime_error("cannot write " + config_path_);
  if (plan_.delay_ms > 0)
    for (const auto& n : cfg_.nodes)
      start_relay(n.name);
}

chaos_cluster::~chaos_cluster() {
  hog(0);
  for (auto& [name, pid] : services_)
    end_process(pid);
  services_.clear();
  for (auto pid : helpers_)
    end_process(pid);
  telegram_.reset();
  net_.reset();
  auto keep = std::getenv("MONTANA_CHAOS_KEEP");
  if (keep == nullptr || std::string{keep} != "1") {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

void chaos_cluster::start_relay(const std::string& name) {
  auto out = dir_ + "/relay-" + name + ".log";
  auto address = net_->address(name);
  std::string problem;
  auto pid =
      net_->spawn(name,
                  {MONTANA_WAN_RELAY_PATH, "--listen", address + ":" + std::to_string(channel_port),
                   "--to", "127.0.0.1:" + std::to_string(channel_port), "--delay",
                   std::to_string(plan_.delay_ms), "--jitter", std::to_string(plan_.jitter_ms),
                   "--seed", std::to_string(plan_.seed + helpers_.size())},
                  out, problem);
  if (pid < 0)
    throw std::runtime_error("cannot start the relay of " + name + ": " + problem);
  helpers_.push_back(pid);
  if (!wait_for_output(out, "listening on", pid, 10s))
    throw std::runtime_error("the relay of " + name + " did not start: " + read_file(out));
}

std::vector<std::string> chaos_cluster::nodes() const {
  std::vector<std::string> out;
  for (const auto& n : cfg_.nodes)
    out.push_back(n.name);
  return out;
}

void chaos_cluster::start_all() {
  for (const auto& n : nodes())
    start(n);
}

void chaos_cluster::start(const std::string& name) {
  if (running(name))
    return;
  auto log = dir_ + "/" + name + ".log";
  std::string problem;
  // A killed service leaves its private directory behind: it makes it in ours.
  auto pid =
      net_->spawn(name, {MONTANA_BINARY_PATH, "run", "--config", config_path_, "--node", name}, log,
                  problem, {"TMPDIR=" + dir_});
  if (pid < 0)
    throw std::runtime_error("cannot start " + name + ": " + problem);
  services_[name] = pid;
}

void chaos_cluster::kill(const std::string& name) {
  if (auto it = services_.find(name); it != services_.end()) {
    end_process(it->second);
    services_.erase(it);
  }
}

void chaos_cluster::stop(const std::string& name) {
  auto it = services_.find(name);
  if (it == services_.end())
    return;
  ::kill(it->second, SIGCONT);
  ::kill(it->second, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (::waitpid(it->second, nullptr, WNOHANG) != it->second) {
    if (std::chrono::steady_clock::now() > deadline) {
      end_process(it->second);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  services_.erase(it);
}

void chaos_cluster::freeze(const std::string& name) {
  if (auto it = services_.find(name); it != services_.end())
    ::kill(it->second, SIGSTOP);
}

void chaos_cluster::thaw(const std::string& name) {
  if (auto it = services_.find(name); it != services_.end())
    ::kill(it->second, SIGCONT);
}

bool chaos_cluster::running(const std::string& name) {
  auto it = services_.find(name);
  if (it == services_.end())
    return false;
  if (::waitpid(it->second, nullptr, WNOHANG) == it->second) {
    services_.erase(it);
    return false;
  }
  return true;
}

void chaos_cluster::hog(int n) {
  for (auto pid : hogs_)
    end_process(pid);
  hogs_.clear();
  auto names = nodes();
  for (int i = 0; i < n; ++i) {
    std::string problem;
    // Hashing an endless stream: one busy core per process, nothing written anywhere.
    auto pid = net_->spawn(names[static_cast<size_t>(i) % names.size()],
                           {find_tool("sha256sum"), "/dev/zero"}, "/dev/null", problem);
    if (pid < 0)
      throw std::runtime_error("cannot start a CPU hog: " + problem);
    hogs_.push_back(pid);
  }
}

std::vector<poll_record> chaos_cluster::polls() const {
  return telegram_->polls([this](const std::string& address) { return net_->host_at(address); });
}

bool chaos_cluster::wait_for_sole_poller(const std::string& name, std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds stable) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto now = wall_us();
    if (sole_poller(polls(), now - stable.count() * 1000, now, poll_join_us) == name)
      return true;
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(100ms);
  }
}

nlohmann::json chaos_cluster::status_of(const std::string& name) {
  if (!running(name))
    return nullptr;
  std::string problem;
  int fd = net_->connect_from(name, "127.0.0.1", status_port, 1s, problem);
  if (fd < 0)
    return nullptr;
  auto status =
      nlohmann::json::parse(http_exchange(fd, "GET", "/status", "", 2s).body, nullptr, false);
  return status.is_object() ? status : nlohmann::json{};
}

std::vector<std::string> chaos_cluster::fully_linked() {
  std::vector<std::string> out;
  for (const auto& name : nodes()) {
    auto status = status_of(name);
    if (!status.is_object() || !status["links"].is_array())
      continue;
    size_t linked = 0;
    for (const auto& l : status["links"])
      linked += l.value("linked", false) ? 1 : 0;
    if (linked + 1 == cfg_.nodes.size())
      out.push_back(name);
  }
  return out;
}

std::vector<std::string> chaos_cluster::claimants() {
  std::vector<std::string> out;
  for (const auto& name : nodes()) {
    auto status = status_of(name);
    if (!status.is_object() || !status["duties"].is_array())
      continue;
    for (const auto& d : status["duties"])
      if (d.value("role", std::string{"standby"}) != "standby") {
        out.push_back(name);
        break;
      }
  }
  return out;
}

bool chaos_cluster::wait_for_mesh(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t up = 0;
    for (const auto& n : nodes())
      up += running(n) ? 1 : 0;
    if (fully_linked().size() == up)
      return true;
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(100ms);
  }
}

std::string chaos_cluster::diagnostics() const {
  std::ostringstream out;
  for (const auto& n : nodes()) {
    std::istringstream log{read_file(dir_ + "/" + n + ".log")};
    std::vector<std::string> lines;
    for (std::string line; std::getline(log, line);)
      if (contains(line, "] duty ") || contains(line, "] probe ") || contains(line, "] peer ") ||
          contains(line, "] node up ") || contains(line, "] node stopped") ||
          contains(line, "error"))
        lines.push_back(line);
    out << "--- " << n << ": roles, verdicts and links (last 40) ---\n";
    for (size_t i = lines.size() > 40 ? lines.size() - 40 : 0; i < lines.size(); ++i)
      out << lines[i] << "\n";
  }
  auto said = read_file(dir_ + "/telegram.out");
  out << "--- the stand-in's output ---\n"
      << said.substr(said.size() > 2000 ? said.size() - 2000 : 0);
  return out.str();
}

} // namespace montana::testing
