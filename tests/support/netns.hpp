// Test hosts as network namespaces on one machine: a switch namespace with a bridge, one
// namespace per host joined to it by a veth pair, addresses from the benchmarking block
// 198.18.0.0/15 and no route out. Faults are made on that network: a host's switch port down
// (isolation), packets from one host to another dropped silently at the receiver (a cut link,
// one way or both). Needs root and iproute2.
//
// Every namespace of a run is named `mchaos-<pid>-<start time>-<n>-<host>`: the owner's pid and
// its start time tell a stale namespace (its test crashed or was killed) from a live one, and
// `sweep_stale_namespaces` removes only those. A guard process (`montana-chaos-net guard`)
// watches the owner and removes the run's namespaces, with every process in them, if the owner
// ends without doing so itself. Nothing is created outside the run's own namespaces: the veth
// pairs are made inside them.
#pragma once

#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace montana::testing {

/// A step of setting up or changing the test network failed; what() says which and why.
class net_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Why this machine cannot make test namespaces (not root, no `ip`, no netns support); empty
/// when it can.
std::string netns_unavailable();

/// Removes every `mchaos-*` namespace whose owning process is gone, with the processes in it.
/// Returns the names removed.
std::vector<std::string> sweep_stale_namespaces();

/// The namespaces whose names start with `prefix`.
std::vector<std::string> namespaces_with_prefix(const std::string& prefix);

/// SIGKILLs every process in namespace `ns` (found by its namespace inode, ended by pid) and
/// deletes the namespace.
void remove_namespace(const std::string& ns);

/// True while the owner named in a run prefix (`mchaos-<pid>-<start>-<n>`) still runs.
bool prefix_owner_alive(const std::string& prefix);

/// Field 22 of /proc/PID/stat, the process's start time in clock ticks: with the pid it names
/// one process for good. Empty when there is no such process.
std::string process_start_time(pid_t pid);

/// One host of a test network.
struct net_host {
  std::string name;
  /// Its address in 198.18.0.0/15.
  std::string address;
};

class test_net {
public:
  /// Makes the switch and the hosts; throws net_error (everything made so far removed). The
  /// guard also removes `files` (a directory of the run) if the owner dies first.
  explicit test_net(std::vector<net_host> hosts, const std::string& files = {});
  /// Ends every process in the run's namespaces and removes them.
  ~test_net();
  test_net(const test_net&) = delete;
  test_net& operator=(const test_net&) = delete;

  const std::string& prefix() const { return prefix_; }
  /// The namespace of host `name`.
  std::string ns(const std::string& name) const;
  const std::string& address(const std::string& name) const;
  /// The host with address `address`; empty if none.
  std::string host_at(const std::string& address) const;

  /// The host's switch port goes down: nothing reaches it, nothing it sends gets out.
  void isolate(const std::string& name);
  void rejoin(const std::string& name);
  /// Packets from `from` to `to` are dropped at `to` without an answer (one way).
  void cut(const std::string& from, const std::string& to);
  void restore(const std::string& from, const std::string& to);
  /// Every cut restored and every host joined.
  void heal();
  bool isolated(const std::string& name) const { return isolated_.contains(name); }

  /// Starts `args` (args[0] a path) in host `name`'s namespace with `env` entries
  /// ("NAME=value") added, stdin empty, stdout and stderr to `out_path`. Returns the pid, or -1
  /// with `problem` saying why. The caller reaps it.
  pid_t spawn(const std::string& name, const std::vector<std::string>& args,
              const std::string& out_path, std::string& problem,
              const std::vector<std::string>& env = {}) const;

  /// A socket of `type` (SOCK_STREAM, SOCK_DGRAM) made inside host `name`: it keeps that
  /// namespace wherever it is used. -1 with `problem` set when that fails.
  int socket_in(const std::string& name, int type, std::string& problem) const;

  /// A TCP connection to `address`:`port` made from inside host `name`; -1 with `problem` set
  /// when it fails within `timeout`.
  int connect_from(const std::string& name, const std::string& address, uint16_t port,
                   std::chrono::milliseconds timeout, std::string& problem) const;

private:
  const net_host& host(const std::string& name) const;
  size_t index(const std::string& name) const;
  /// Runs `ip` with `args`; throws net_error with its output when it fails.
  void ip(const std::vector<std::string>& args) const;
  void tear_down();

  std::string prefix_;
  std::string ip_tool_;
  std::vector<net_host> hosts_;
  std::vector<std::string> made_;
  std::set<std::string> isolated_;
  std::set<std::pair<std::string, std::string>> cuts_;
  pid_t guard_ = -1;
};

} // namespace montana::testing
