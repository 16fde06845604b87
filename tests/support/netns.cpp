#include "support/netns.hpp"

#include "support/files.hpp"
#include "support/spawn.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace montana::testing {

namespace {

namespace fs = std::filesystem;

constexpr const char* netns_dir = "/run/netns";
constexpr const char* family = "mchaos-";

} // namespace

std::string process_start_time(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat;
  std::getline(in, stat);
  auto close = stat.rfind(')');
  if (close == std::string::npos)
    return {};
  std::istringstream fields{stat.substr(close + 2)};
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i)
    if (i == 22)
      return field;
  return {};
}

namespace {

/// The run prefix of namespace `ns` (`mchaos-<pid>-<start>-<n>`); empty if not ours.
std::string run_prefix_of(const std::string& ns) {
  if (!ns.starts_with(family))
    return {};
  size_t at = std::strlen(family);
  for (int dashes = 0; dashes < 3; ++dashes) {
    at = ns.find('-', at);
    if (at == std::string::npos)
      return {};
    ++at;
  }
  return ns.substr(0, at - 1);
}

const std::string& ip_path() {
  static const std::string path = find_tool("ip");
  return path;
}

/// (device, inode) of a namespace file.
std::pair<dev_t, ino_t> ns_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return {0, 0};
  return {st.st_dev, st.st_ino};
}

/// Pids of the processes whose network namespace is `ns`.
std::vector<pid_t> pids_in(const std::string& ns) {
  std::vector<pid_t> out;
  auto id = ns_identity(std::string{netns_dir} + "/" + ns);
  if (id.second == 0)
    return out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{"/proc", ec}) {
    auto name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    if (ns_identity(entry.path().string() + "/ns/net") == id)
      out.push_back(std::stoi(name));
  }
  return out;
}

std::atomic<int> runs{0};

} // namespace

std::string netns_unavailable() {
  if (::geteuid() != 0)
    return "not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)";
  if (ip_path().empty())
    return "no `ip` command (Debian package iproute2; deploy/install-deps.sh)";
  if (!fs::exists("/proc/self/ns/net"))
    return "this kernel has no network namespaces";
  // Root in a container may still lack CAP_SYS_ADMIN: try one, on a thread of its own (unshare
  // moves only the calling thread, which then ends).
  int error = 0;
  std::thread probe{[&] { error = ::unshare(CLONE_NEWNET) == 0 ? 0 : errno; }};
  probe.join();
  if (error != 0)
    return std::string{"cannot make a network namespace here: "} + std::strerror(error);
  return {};
}

bool prefix_owner_alive(const std::string& prefix) {
  // mchaos-<pid>-<start>-<n>
  auto rest = prefix.substr(std::strlen(family));
  auto dash = rest.find('-');
  auto dash2 = rest.find('-', dash + 1);
  if (dash == std::string::npos || dash2 == std::string::npos)
    return false;
  auto pid = static_cast<pid_t>(std::strtol(rest.substr(0, dash).c_str(), nullptr, 10));
  return pid > 0 && process_start_time(pid) == rest.substr(dash + 1, dash2 - dash - 1);
}

std::vector<std::string> namespaces_with_prefix(const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{netns_dir, ec}) {
    auto name = entry.path().filename().string();
    if (name.starts_with(prefix))
      out.push_back(name);
  }
  return out;
}

void remove_namespace(const std::string& ns) {
  for (int round = 0; round < 100; ++round) {
    auto pids = pids_in(ns);
    if (pids.empty())
      break;
    for (auto pid : pids)
      ::kill(pid, SIGKILL);
    ::usleep(20000);
  }
  std::string problem;
  run_command({ip_path(), "netns", "delete", ns}, "/dev/null", std::chrono::seconds{10}, problem);
}

std::vector<std::string> sweep_stale_namespaces() {
  std::vector<std::string> removed;
  for (const auto& ns : namespaces_with_prefix(family)) {
    auto prefix = run_prefix_of(ns);
    if (prefix.empty() || prefix_owner_alive(prefix))
      continue;
    remove_namespace(ns);
    removed.push_back(ns);
  }
  return removed;
}

test_net::test_net(std::vector<net_host> hosts, const std::string& files)
    : hosts_(std::move(hosts)) {
  if (auto why = netns_unavailable(); !why.empty())
    throw net_error(why);
  ip_tool_ = ip_path();
  auto self = ::getpid();
  prefix_ = std::string{family} + std::to_string(self) + "-" + process_start_time(self) + "-" +
            std::to_string(++runs);
  sweep_stale_namespaces();
  try {
    // The guard removes the run if this process ends without doing so (a crashed test).
    std::string problem;
    std::vector<std::string> guard{MONTANA_CHAOS_NET_PATH, "guard", prefix_};
    if (!files.empty())
      guard.push_back(files);
    guard_ = spawn_child(guard, "/dev/null", "/dev/null", problem);
    if (guard_ < 0)
      throw net_error("cannot start the namespace guard: " + problem);
    auto sw = prefix_ + "-switch";
    ip({"netns", "add", sw});
    made_.push_back(sw);
    ip({"-n", sw, "link", "add", "br0", "type", "bridge"});
    ip({"-n", sw, "link", "set", "br0", "up"});
    for (size_t i = 0; i < hosts_.size(); ++i) {
      auto h = ns(hosts_[i].name);
      ip({"netns", "add", h});
      made_.push_back(h);
      auto port = "p" + std::to_string(i);
      ip({"-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h});
      ip({"-n", sw, "link", "set", port, "master", "br0", "up"});
      ip({"-n", h, "link", "set", "lo", "up"});
      ip({"-n", h, "addr", "add", hosts_[i].address + "/15", "dev", "eth0"});
      ip({"-n", h, "link", "set", "eth0", "up"});
      // Local delivery is looked up after the cut rules (preference 10), not before them.
      ip({"-n", h, "rule", "add", "pref", "100", "lookup", "local"});
      ip({"-n", h, "rule", "del", "pref", "0"});
    }
  } catch (...) {
    tear_down();
    throw;
  }
}

test_net::~test_net() {
  tear_down();
}

void test_net::tear_down() {
  for (auto it = made_.rbegin(); it != made_.rend(); ++it)
    remove_namespace(*it);
  made_.clear();
  if (guard_ > 0) {
    ::kill(guard_, SIGKILL);
    ::waitpid(guard_, nullptr, 0);
    guard_ = -1;
  }
}

std::string test_net::ns(const std::string& name) const {
  return prefix_ + "-" + host(name).name;
}

const std::string& test_net::address(const std::string& name) const {
  return host(name).address;
}

std::string test_net::host_at(const std::string& address) const {
  for (const auto& h : hosts_)
    if (h.address == address)
      return h.name;
  return {};
}

const net_host& test_net::host(const std::string& name) const {
  return hosts_.at(index(name));
}

size_t test_net::index(const std::string& name) const {
  for (size_t i = 0; i < hosts_.size(); ++i)
    if (hosts_[i].name == name)
      return i;
  throw net_error("no test host '" + name + "'");
}

void test_net::ip(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{ip_tool_};
  argv.insert(argv.end(), args.begin(), args.end());
  auto out = fs::temp_directory_path() / (prefix_ + ".ip.out");
  std::string problem;
  auto code = run_command(argv, out.string(), std::chrono::seconds{10}, problem);
  auto said = read_file(out);
  std::error_code ec;
  fs::remove(out, ec);
  if (code && *code == 0)
    return;
  std::string line;
  for (const auto& a : argv)
    line += (line.empty() ? "" : " ") + a;
  throw net_error(line + ": " + (code ? said : problem));
}

void test_net::isolate(const std::string& name) {
  ip({"-n", prefix_ + "-switch", "link", "set", "p" + std::to_string(index(name)), "down"});
  isolated_.insert(name);
}

void test_net::rejoin(const std::string& name) {
  ip({"-n", prefix_ + "-switch", "link", "set", "p" + std::to_string(index(name)), "up"});
  isolated_.erase(name);
}

void test_net::cut(const std::string& from, const std::string& to) {
  if (cuts_.contains({from, to}))
    return;
  ip({"-n", ns(to), "rule", "add", "pref", "10", "from", address(from), "iif", "eth0",
      "blackhole"});
  cuts_.insert({from, to});
}

void test_net::restore(const std::string& from, const std::string& to) {
  if (!cuts_.contains({from, to}))
    return;
  ip({"-n", ns(to), "rule", "del", "pref", "10", "from", address(from), "iif", "eth0",
      "blackhole"});
  cuts_.erase({from, to});
}

void test_net::heal() {
  for (auto [from, to] : std::set{cuts_})
    restore(from, to);
  for (const auto& name : std::set{isolated_})
    rejoin(name);
}

pid_t test_net::spawn(const std::string& name, const std::vector<std::string>& args,
                      const std::string& out_path, std::string& problem,
                      const std::vector<std::string>& env) const {
  // Everything the child needs is prepared before fork: the caller may have threads.
  auto text = args;
  std::vector<char*> argv;
  for (auto& a : text)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  // `env` first: the first of two same-named entries is the one a program sees.
  auto env_text = env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry{*e};
    auto name = entry.substr(0, entry.find('=') + 1);
    if (std::none_of(env.begin(), env.end(), [&](const auto& x) { return x.starts_with(name); }))
      env_text.push_back(entry);
  }
  std::vector<char*> envp;
  for (auto& e : env_text)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  auto ns_path = std::string{netns_dir} + "/" + ns(name);
  int ns_fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  pid_t pid = -1;
  if (ns_fd < 0 || in_fd < 0 || out_fd < 0) {
    problem = "cannot open " + ns_path + " or " + out_path + ": " + std::strerror(errno);
  } else {
    pid = ::fork();
    if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      if (::setns(ns_fd, CLONE_NEWNET) != 0 || ::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 ||
          ::dup2(out_fd, 2) < 0)
        ::_exit(126);
      // Nothing of the test process's sockets may live on in a host.
      ::close_range(3, ~0U, 0);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    if (pid < 0)
      problem = std::string{"fork failed: "} + std::strerror(errno);
  }
  for (int fd : {ns_fd, in_fd, out_fd})
    if (fd >= 0)
      ::close(fd);
  return pid;
}

int test_net::socket_in(const std::string& name, int type, std::string& problem) const {
  auto ns_path = std::string{netns_dir} + "/" + ns(name);
  int fd = -1;
  // setns changes only the calling thread's namespace: a thread of its own makes the socket.
  std::thread maker{[&] {
    int ns_fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0 || ::setns(ns_fd, CLONE_NEWNET) != 0)
      problem = "cannot enter " + ns_path + ": " + std::strerror(errno);
    else if (fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0); fd < 0)
      problem = std::string{"socket: "} + std::strerror(errno);
    if (ns_fd >= 0)
      ::close(ns_fd);
  }};
  maker.join();
  return fd;
}

int test_net::connect_from(const std::string& name, const std::string& address, uint16_t port,
                           std::chrono::milliseconds timeout, std::string& problem) const {
  int fd = socket_in(name, SOCK_STREAM, problem);
  if (fd < 0)
    return -1;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, address.c_str(), &to.sin_addr);
  auto fail = [&](const std::string& why) {
    problem = "connect to " + address + ":" + std::to_string(port) + " from " + name + ": " + why;
    ::close(fd);
    return -1;
  };
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)
    return fail(std::strerror(errno));
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1)
    return fail("timed out");
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0)
    return fail(std::strerror(err));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

} // namespace montana::testing
