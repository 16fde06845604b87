#include "runtime/node.hpp"

#include "actors/breather.hpp"
#include "actors/chain_leader.hpp"
#include "actors/guardian.hpp"
#include "actors/inspector.hpp"
#include "actors/peer.hpp"
#include "actors/probe.hpp"
#include "runtime/channel.hpp"
#include "runtime/git_port.hpp"
#include "runtime/identity.hpp"
#include "runtime/io_thread.hpp"
#include "runtime/log.hpp"
#include "runtime/net_check.hpp"
#include "runtime/process_launcher.hpp"
#include "runtime/refresher.hpp"
#include "runtime/shell_endpoint.hpp"
#include "runtime/status_http.hpp"
#include "runtime/trust.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

namespace montana {

namespace {

/// How often an idle scheduler worker looks for a job to steal (see make_system_config).
constexpr std::chrono::milliseconds idle_steal_interval{100};

/// No middleman: the node speaks to other nodes only through its own channel, so no actor is
/// reachable from the network.
///
/// The scheduler idles on its condition variable instead of polling. CAF 0.17.6's defaults have
/// every worker that runs out of jobs poll its queue 500 times with a 50 us sleep between
/// (`moderate-poll-attempts`) and then wake every 10 ms (`relaxed-sleep-duration`): with the
/// handful of messages a node handles per second that alone was most of its idle CPU
/// (docs/benchmarks.md, "Idle cost"). A message sent from outside a worker (the I/O thread, a
/// timer) wakes a sleeping worker through the condition variable at once; the timed wake-up
/// only lets an idle worker steal a job queued behind a busy one, and jobs here are short.
std::unique_ptr<caf::actor_system_config> make_system_config(const node_options& opts) {
  auto result = std::make_unique<caf::actor_system_config>();
  register_messages(*result);
  result->set("work-stealing.moderate-poll-attempts", size_t{0});
  result->set("work-stealing.relaxed-sleep-duration", caf::timespan{idle_steal_interval});
  if (opts.scheduler_threads > 0)
    result->set("scheduler.max-threads", opts.scheduler_threads);
  return result;
}

/// The duties an operator stepped this node down from, kept in `<state dir>/stepped-down` (one
/// duty per line) so that a restart does not bring the node back into their chains.
class stepped_down_file {
public:
  explicit stepped_down_file(std::string path) : path_(std::move(path)) {
    std::ifstream in{path_};
    for (std::string duty; std::getline(in, duty);)
      if (!duty.empty())
        duties_.insert(duty);
  }

  bool contains(const std::string& duty) const { return duties_.count(duty) > 0; }

  /// Records the change; a file that cannot be written costs a warning, not the step-down.
  void set(const std::string& node, const std::string& duty, bool stepped_down) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (stepped_down)
      duties_.insert(duty);
    else
      duties_.erase(duty);
    std::string text;
    for (const auto& d : duties_)
      text += d + "\n";
    try {
      std::filesystem::create_directories(std::filesystem::path{path_}.parent_path());
      write_file_atomically(path_, text, 0640, true);
    } catch (const std::exception& e) {
      spdlog::warn("[{}] duty {}: the step-down will not survive a restart: {}", node, duty,
                   e.what());
    }
  }

private:
  std::string path_;
  std::mutex mutex_;
  std::set<std::string> duties_;
};

/// How long one duty's leave may take: the wait for the next node's claim, the stop of the
/// process (SIGTERM, `stop_grace`, SIGKILL) with room to spare, then the hand-over breath.
duration leave_bound(const duty_settings& duty, const breath_settings& breath) {
  return handover_wait(duty) + duty.stop_grace * 2 + duration{5000} +
         (breath.repo.empty() ? duration{0} : handover_breath_bound(breath.handover_timeout));
}

/// A lower node's probe of a peer never seen since its start waits this long before it counts
/// failures: the dialing side's reconnect backoff plus one connection attempt plus a round.
duration unknown_grace(const config& cfg) {
  return cfg.channel.reconnect_max + cfg.probe.timeout * 2 + cfg.probe.interval;
}

probe_timing timing_of(const config& cfg) {
  const auto& p = cfg.probe;
  return probe_timing{p.interval.count(),
                      p.timeout.count(),
                      p.retry.count(),
                      unknown_grace(cfg).count(),
                      p.checks,
                      p.rise,
                      p.fall};
}

duty_update update_of(const duty_settings& d) {
  return duty_update{d.command, d.env, d.stop_grace.count(), d.restart_min.count(),
                     d.restart_max.count()};
}

uint64_t random_incarnation() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) | rd();
}

} // namespace

node::node(config cfg, std::string name, node_options opts)
    : cfg_(std::move(cfg)), name_(std::move(name)), opts_(std::move(opts)) {
  if (cfg_.find_node(name_) == nullptr)
    throw config_error("unknown node '" + name_ + "' (known: " + cfg_.node_names() + ")");
  if (!opts_.checks)
    opts_.checks = std::make_shared<system_net_checks>();
  if (!opts_.launcher)
    opts_.launcher = std::make_shared<process_launcher>();
}

node::~node() {
  stop();
}

std::string node::shell_socket() const {
  return expand_node(cfg_.shell.socket, name_);
}

void node::start() {
  if (running())
    return;
  try {
    start_parts();
  } catch (...) {
    stop();
    throw;
  }
}

void node::start_parts() {
  const auto& me = *cfg_.find_node(name_);
  auto bind = me.bind.empty() ? me.host : me.bind;
  // Every file is checked before anything listens: one line naming the file that is wrong.
  identities_ = std::make_shared<trust>(cfg_, name_);
  io_ = std::make_unique<io_thread>("montana-io");
  auto incarnation = random_incarnation();
  channel_ = std::make_shared<tls_channel>(
      io_->context(), channel_params{name_, cfg_.nodes, cfg_.channel, identities_, incarnation});
  // Rotated certificates and registry changes apply to the next handshakes without restart.
  refresher_ =
      std::make_unique<refresher>([t = identities_] { t->refresh(); }, opts_.identity_refresh);
  sys_cfg_ = make_system_config(opts_);
  system_ = std::make_unique<caf::actor_system>(*sys_cfg_);
  {
    std::lock_guard guard{failure_mutex_};
    failure_.reset();
  }
  stopping_ = false;
  // First, so that it watches every actor spawned after it; the node watches the guardian.
  guardian_ = spawn_guardian(
      *system_,
      guardian_params{.self = name_, .failed = [this](const std::string& why) { fail(why); }});
  guardian_->attach_functor([this](const caf::error& reason) {
    if (!stopping_)
      fail("guardian exited: " + system_->render(reason));
  });
  attach_log_ring();
  std::vector<std::string> names;
  for (const auto& n : cfg_.nodes)
    names.push_back(n.name);
  inspector_params watch{name_, MONTANA_VERSION, incarnation, names, {}, node_log(name_, names)};
  auto shell_refusals = std::make_shared<std::atomic<uint64_t>>(0);
  watch.counts = [channel = channel_, shell_refusals](node_status& s) {
    s.tls_refusals = channel->refusals();
    s.version_refusals = channel->version_refusals();
    s.shell_refusals = shell_refusals->load();
  };
  inspector_ = spawn_inspector(*system_, std::move(watch));
  caf::anon_send(inspector_, register_atom::value, std::string{"guardian"}, name_, guardian_);
  caf::anon_send(guardian_, register_atom::value, std::string{"inspector"}, name_, inspector_);
  auto join = [this](const char* role, const std::string& name, const caf::actor& actor) {
    caf::anon_send(inspector_, register_atom::value, std::string{role}, name, actor);
    caf::anon_send(guardian_, register_atom::value, std::string{role}, name, actor);
  };
  peer_ = spawn_peer(
      *system_, peer_params{name_, cfg_.nodes, channel_, incarnation, inspector_, network_problem});
  join("peer", name_, peer_);
  channel_->start(peer_);
  auto grace = unknown_grace(cfg_);
  for (const auto& peer : cfg_.nodes) {
    if (peer.name == name_)
      continue;
    probes_[peer.name] =
        spawn_probe(*system_, probe_params{name_, peer, cfg_.probe, peer_, grace, opts_.checks});
    join("probe", peer.name, probes_[peer.name]);
  }
  // Before the leaders: they ask it for hand-over breaths.
  if (!cfg_.breath.repo.empty()) {
    auto breath = breath_for(cfg_, name_);
    auto port = std::make_shared<git_port>(breath, name_);
    breather_ = spawn_breather(*system_, breather_params{name_, std::move(breath), port});
    join("breather", name_, breather_);
  }
  auto steps = std::make_shared<stepped_down_file>(
      (std::filesystem::path{expand_node(cfg_.state.dir, name_)} / "stepped-down").string());
  for (const auto& duty : cfg_.duties) {
    if (std::find(duty.chain.begin(), duty.chain.end(), name_) == duty.chain.end())
      continue;
    leader_params params{name_,
                         duty,
                         std::clamp(cfg_.probe.interval / 4, duration{20}, duration{250}),
                         peer_,
                         {},
                         opts_.launcher,
                         inspector_,
                         guardian_,
                         steps->contains(duty.name),
                         [steps, node = name_, duty = duty.name](bool stepped_down) {
                           steps->set(node, duty, stepped_down);
                         },
                         breather_,
                         cfg_.breath.handover_timeout};
    for (const auto& other : duty.chain)
      if (other != name_)
        params.probes[other] = probes_.at(other);
    auto leader = spawn_chain_leader(*system_, std::move(params));
    caf::anon_send(peer_, route_atom::value, duty.name, leader);
    join("leader", duty.name, leader);
    leaders_[duty.name] = leader;
  }
  shell_ = std::make_unique<shell_endpoint>(
      io_->context(), *system_,
      shell_endpoint_params{name_, shell_socket(), inspector_, MONTANA_VERSION, shell_refusals});
  if (cfg_.status.enabled)
    status_http_ = std::make_unique<status_http>(
        io_->context(), *system_,
        status_http_params{name_, cfg_.status.host, cfg_.status.port, inspector_});
  spdlog::info("[{}] node up on {}:{}: {} peers, {} duties; shell on {}{}", name_, bind, me.port,
               probes_.size(), leaders_.size(), shell_socket(),
               cfg_.status.enabled
                   ? fmt::format("; status on http://{}:{}/", cfg_.status.host, cfg_.status.port)
                   : std::string{});
}

std::vector<std::string> node::reload(const config& fresh) {
  std::vector<std::string> applied;
  if (!running())
    return applied;
  for (const auto& what : changes_needing_restart(cfg_, fresh))
    spdlog::warn("[{}] reload: {} changed: takes effect at the next restart", name_, what);
  if (fresh.log.level != cfg_.log.level && set_log_level(fresh.log.level)) {
    cfg_.log = fresh.log;
    applied.push_back("log level " + fresh.log.level);
  }
  if (fresh.probe != cfg_.probe) {
    cfg_.probe = fresh.probe;
    for (auto& [peer, probe] : probes_)
      caf::anon_send(probe, timing_of(cfg_));
    applied.emplace_back("probe timings");
  }
  for (auto& duty : cfg_.duties) {
    auto i = std::find_if(fresh.duties.begin(), fresh.duties.end(),
                          [&](const duty_settings& d) { return d.name == duty.name; });
    if (i == fresh.duties.end())
      continue;
    auto next = duty;
    next.command = i->command;
    next.env = i->env;
    next.stop_grace = i->stop_grace;
    next.restart_min = i->restart_min;
    next.restart_max = i->restart_max;
    if (next == duty)
      continue;
    duty = next;
    if (auto leader = leaders_.find(duty.name); leader != leaders_.end())
      caf::anon_send(leader->second, update_of(duty));
    applied.push_back("duty " + duty.name + " (its next process)");
  }
  std::string list;
  for (const auto& a : applied)
    list += (list.empty() ? "" : ", ") + a;
  spdlog::info("[{}] configuration reloaded: {}", name_, list.empty() ? "nothing to apply" : list);
  return applied;
}

void node::leave() {
  if (!running())
    return;
  {
    // Scoped: a live scoped_actor would keep ~actor_system in stop() waiting forever.
    caf::scoped_actor self{*system_};
    for (const auto& duty : cfg_.duties) {
      auto i = leaders_.find(duty.name);
      if (i == leaders_.end())
        continue;
      self->request(i->second, leave_bound(duty, cfg_.breath), stop_atom::value)
          .receive([] {},
                   [&](const caf::error& err) {
                     spdlog::warn("[{}] duty {}: graceful stop failed: {}", name_, duty.name,
                                  system_->render(err));
                   });
    }
  }
  stop();
}

std::optional<std::string> node::failure() const {
  std::lock_guard guard{failure_mutex_};
  return failure_;
}

void node::fail(const std::string& why) {
  {
    std::lock_guard guard{failure_mutex_};
    if (failure_)
      return;
    failure_ = why;
  }
  if (opts_.on_failure)
    opts_.on_failure(why);
}

void node::stop() {
  if (!io_)
    return;
  auto was_up = running();
  // Reverse order of start: first what lets anything in, then the actors, then the threads.
  if (status_http_)
    status_http_->stop();
  if (shell_)
    shell_->stop();
  if (channel_)
    channel_->stop();
  refresher_.reset();
  auto kill = [](caf::actor& a) {
    if (a)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    a = nullptr;
  };
  // The exits below are asked for: the guardian goes first, before it sees any of them.
  stopping_ = true;
  kill(guardian_);
  for (auto& [duty, leader] : leaders_)
    kill(leader);
  kill(breather_);
  for (auto& [peer, probe] : probes_)
    kill(probe);
  kill(peer_);
  // Its consoles are linked to it and go with it.
  kill(inspector_);
  leaders_.clear();
  probes_.clear();
  // The I/O thread runs on while the actors finish (their last lines to shells go out); then it
  // goes, and what its coroutines held goes with it while the actor system still exists.
  if (system_)
    system_->await_all_actors_done();
  status_http_.reset();
  shell_.reset();
  channel_.reset();
  io_.reset();
  system_.reset();
  sys_cfg_.reset();
  identities_.reset();
  if (was_up)
    spdlog::info("[{}] node stopped", name_);
}

} // namespace montana
