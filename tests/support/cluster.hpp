// Five real nodes in one process for integration tests and benchmarks: one actor
// system each, real sockets on a private 127.x.y.1-5 block, real duty processes
// (the duty recorder) whose own start/stop records are the evidence.
#pragma once

#include "runtime/node.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace montana::testing {

/// One line of the recorder's file.
struct duty_record {
  std::string what; // start, stop or crash
  std::string node;
  std::string duty;
  uint64_t term = 0;
  int pid = 0;
  int64_t at_us = 0; // wall clock, microseconds
};

/// The duty recorder's records in `path`, in file order.
std::vector<duty_record> read_records(const std::string& path);

/// When `node` last wrote a `what` record (start, stop, crash) in `records`; 0 if never.
int64_t last_record_at(const std::vector<duty_record>& records, const std::string& node,
                       const std::string& what);

/// Most duty processes alive at the same time according to `records`, counting a process
/// without a stop record as running until the first time in `killed_at` of its node after its
/// start (its node was killed), or to the end.
int max_overlap(const std::vector<duty_record>& records,
                const std::map<std::string, std::vector<int64_t>>& killed_at = {});

/// Probe timings of a cluster.
enum class profile {
  /// Defaults of the configuration (what production runs).
  standard,
  /// Tolerant enough for a loaded CI machine, fast enough for many trials.
  test,
  /// The documented fast profile.
  fast,
};

/// Wall-clock microseconds, comparable with duty_record::at_us.
int64_t now_us();

/// A port the kernel just handed out on `host`: free there now.
uint16_t free_port(const std::string& host);

/// True while process `pid` exists and is not a zombie.
bool pid_alive(int pid);

/// For tests that start the real binary: creates identities for every node of the TOML
/// configuration `text` in `dir` and returns `text` with a [tls] table that points at them and
/// a [shell] table whose socket lies in `dir` too (the default, /run/montana/NODE.sock, is one
/// for every process on the machine: two suites running a node of the same name collide).
std::string with_private_files(const std::string& text, const std::string& dir);

/// The nodes `n`'s gateway has a link to now (empty when it does not answer within a second).
std::vector<std::string> linked_nodes(node& n);

/// Polls `pred` every few milliseconds until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

class cluster {
public:
  /// Builds (does not start) five nodes with fresh identities; `tweak` may edit the config
  /// first.
  explicit cluster(profile p = profile::test, const std::function<void(config&)>& tweak = {});
  ~cluster();

  const config& cfg() const { return cfg_; }
  const std::string& dir() const { return dir_; }
  /// Where the nodes' keys, certificates and registry are.
  std::string identities() const { return dir_ + "/identities"; }

  /// Rebuilds the not yet started node `name` from a copy of the configuration that `tweak`
  /// changed: settings that differ per host (the [status] address of one node).
  void reconfigure(const std::string& name, const std::function<void(config&)>& tweak);

  /// The configuration as a TOML file for the real binary (the shell); returns its path.
  std::string write_config_file() const;
  std::string record_file() const { return dir_ + "/records"; }
  node& at(const std::string& name);

  void start_all();
  void start(const std::string& name);
  /// Abrupt death: the node's actor system ends, its duty process is killed.
  void kill(const std::string& name);
  /// Every failure a node reported (node_options::on_failure) as "NODE: WHY", in order. A failed
  /// node's duty process counts as gone from its report on (max_overlap).
  std::vector<std::string> failures() const;

  std::vector<duty_record> records() const;
  /// Nodes whose process of `duty` (empty: any duty) is running now, judged by live
  /// pids of `start` records.
  std::vector<std::string> running(const std::string& duty = {}) const;
  /// Waits until exactly `name` runs `duty` (empty: any duty); false on timeout.
  bool wait_for_holder(const std::string& name, std::chrono::milliseconds timeout,
                       const std::string& duty = {});
  /// Most duty processes alive at the same time according to the records, counting a
  /// process without a stop record as running until `killed_at` of its node.
  int max_overlap() const;

private:
  /// Options of node `name`: reports its failures to the cluster.
  node_options options_for(const std::string& name);

  config cfg_;
  std::string dir_;
  std::vector<std::unique_ptr<node>> nodes_;
  /// Guards killed_at_ and failures_: a node reports its failure from an actor's thread.
  mutable std::mutex mutex_;
  /// When each node was killed (or failed), in order.
  std::map<std::string, std::vector<int64_t>> killed_at_;
  std::vector<std::string> failures_;
};

} // namespace montana::testing
