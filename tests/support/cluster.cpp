#include "support/cluster.hpp"

#include "runtime/identity.hpp"
#include "runtime/registry.hpp"
#include "runtime/trust.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <random>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace montana::testing {

int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return true;
}

std::vector<std::string> linked_nodes(node& n) {
  std::vector<std::string> result;
  caf::scoped_actor self{n.system()};
  self->request(n.gateway(), std::chrono::seconds{1}, status_atom::value)
      .receive(
          [&](std::vector<link_status>& links) {
            for (const auto& l : links)
              if (l.linked)
                result.push_back(l.node);
          },
          [](caf::error&) {});
  return result;
}

namespace {

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "montana-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

} // namespace

uint16_t free_port(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    throw std::runtime_error("cannot bind a test socket on " + host);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool pid_alive(int pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0)
    return false;
  // A zombie is dead for our purposes.
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string content;
  std::getline(stat, content);
  auto pos = content.rfind(')');
  return pos == std::string::npos || pos + 2 >= content.size() || content[pos + 2] != 'Z';
}

std::string with_private_files(const std::string& text, const std::string& dir) {
  auto cfg = parse_config(text, "<test>");
  create_cluster_identities(cfg, dir);
  return text + "\n[tls]\nkey = \"" + cfg.tls.key + "\"\ncertificates = \"" + cfg.tls.certificates +
         "\"\nregistry = \"" + cfg.tls.registry + "\"\n[shell]\nsocket = \"" + dir +
         "/{node}.sock\"\n";
}

cluster::cluster(profile p, const std::function<void(config&)>& tweak) : dir_(make_temp_dir()) {
  cfg_ = parse_config(default_config_text(), "<default>");
  // Five nodes on one host cannot share the default's 127.0.0.1:9333; a test turns it on.
  cfg_.status = {};
  cfg_.state.dir = dir_ + "/state/{node}";
  cfg_.shell.socket = dir_ + "/{node}.sock";
  // A private block of 127/8 per cluster, so suites run side by side and next to a demo.
  std::random_device rd;
  auto block = "127." + std::to_string(1 + rd() % 250) + "." + std::to_string(1 + rd() % 250) + ".";
  auto port = free_port(block + "1");
  int i = 1;
  for (auto& n : cfg_.nodes) {
    n.host = block + std::to_string(i++);
    n.port = port;
  }
  auto& duty = cfg_.duties.at(0);
  duty.command = {MONTANA_RECORDER_PATH};
  duty.env["MONTANA_RECORD"] = record_file();
  duty.stop_grace = duration{2000};
  duty.restart_min = duration{100};
  duty.restart_max = duration{1000};
  switch (p) {
  case profile::standard:
    break;
  case profile::test:
    duty.startup_delay = duration{500};
    cfg_.probe.interval = duration{200};
    cfg_.probe.timeout = duration{150};
    cfg_.probe.retry = duration{30};
    cfg_.probe.rise = 2;
    cfg_.probe.fall = 3;
    // A loaded CI machine pauses threads for hundreds of milliseconds: links must outlast that.
    cfg_.channel.heartbeat_interval = duration{400};
    cfg_.channel.connection_timeout = duration{1000};
    cfg_.channel.reconnect_max = duration{500};
    break;
  case profile::fast:
    apply_fast_profile(cfg_);
    break;
  }
  create_cluster_identities(cfg_, dir_ + "/identities");
  if (tweak)
    tweak(cfg_);
  for (const auto& n : cfg_.nodes)
    nodes_.push_back(std::make_unique<node>(cfg_, n.name, options_for(n.name)));
}

node_options cluster::options_for(const std::string& name) {
  node_options opts{{}, {}, 2, duration{250}, {}};
  // Called once the node's duty processes are gone: as good as a kill for overlaps.
  opts.on_failure = [this, name](const std::string& why) {
    std::lock_guard guard{mutex_};
    killed_at_[name].push_back(now_us());
    failures_.push_back(name + ": " + why);
  };
  return opts;
}

std::vector<std::string> cluster::failures() const {
  std::lock_guard guard{mutex_};
  return failures_;
}

cluster::~cluster() {
  for (auto& n : nodes_)
    n->stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void cluster::reconfigure(const std::string& name, const std::function<void(config&)>& tweak) {
  auto copy = cfg_;
  tweak(copy);
  for (auto& n : nodes_)
    if (n->name() == name && !n->running())
      n = std::make_unique<node>(copy, name, options_for(name));
}

std::string cluster::write_config_file() const {
  auto path = dir_ + "/cluster.toml";
  std::ofstream{path} << config_text(cfg_);
  return path;
}

node& cluster::at(const std::string& name) {
  for (auto& n : nodes_)
    if (n->name() == name)
      return *n;
  throw std::out_of_range("no node " + name);
}

void cluster::start_all() {
  for (auto& n : nodes_)
    n->start();
}

void cluster::start(const std::string& name) {
  at(name).start();
}

void cluster::kill(const std::string& name) {
  // The duty process is SIGKILLed at the start of stop(), long before peers notice.
  {
    std::lock_guard guard{mutex_};
    killed_at_[name].push_back(now_us());
  }
  at(name).stop();
}

std::vector<duty_record> read_records(const std::string& path) {
  std::vector<duty_record> out;
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words{line};
    duty_record r;
    std::string term;
    if (words >> r.what >> r.node >> r.duty >> term >> r.pid >> r.at_us) {
      r.term = std::strtoull(term.c_str(), nullptr, 10);
      out.push_back(r);
    }
  }
  return out;
}

std::vector<duty_record> cluster::records() const {
  return read_records(record_file());
}

std::vector<std::string> cluster::running(const std::string& duty) const {
  std::vector<std::string> out;
  for (const auto& r : records())
    if (r.what == "start" && (duty.empty() || r.duty == duty) && pid_alive(r.pid))
      out.push_back(r.node);
  return out;
}

bool cluster::wait_for_holder(const std::string& name, std::chrono::milliseconds timeout,
                              const std::string& duty) {
  return wait_until(
      [&] {
        auto r = running(duty);
        return r.size() == 1 && r[0] == name;
      },
      timeout);
}

int cluster::max_overlap() const {
  std::lock_guard guard{mutex_};
  return testing::max_overlap(records(), killed_at_);
}

int64_t last_record_at(const std::vector<duty_record>& records, const std::string& node,
                       const std::string& what) {
  int64_t at = 0;
  for (const auto& r : records)
    if (r.node == node && r.what == what)
      at = r.at_us;
  return at;
}

int max_overlap(const std::vector<duty_record>& recs,
                const std::map<std::string, std::vector<int64_t>>& killed_at) {
  // Events in time order: +1 at a start, -1 at its stop, crash or its node's death.
  std::vector<std::pair<int64_t, int>> events;
  for (const auto& r : recs) {
    if (r.what != "start")
      continue;
    events.emplace_back(r.at_us, +1);
    std::optional<int64_t> end;
    for (const auto& e : recs)
      if (e.pid == r.pid && e.what != "start")
        end = e.at_us;
    if (!end)
      if (auto k = killed_at.find(r.node); k != killed_at.end())
        for (auto at : k->second)
          if (at > r.at_us) {
            end = at;
            break;
          }
    if (end)
      events.emplace_back(*end, -1);
  }
  std::sort(events.begin(), events.end());
  int now = 0;
  int most = 0;
  for (const auto& [at, delta] : events) {
    now += delta;
    most = std::max(most, now);
  }
  return most;
}

} // namespace montana::testing
