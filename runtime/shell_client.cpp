#include "runtime/shell_client.hpp"

#include "actors/handshake.hpp"
#include "runtime/identity.hpp"
#include "runtime/net_check.hpp"
#include "runtime/registry.hpp"
#include "runtime/trust.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <filesystem>
#include <optional>
#include <thread>

namespace montana {

namespace {

caf::timespan to_timespan(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<caf::timespan>(d);
}

} // namespace

std::string shell_connection::describe(const caf::error& err) const {
  if (err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  if (err == caf::sec::request_timeout)
    return "node " + node_ + " did not answer in time";
  if (err == caf::sec::request_receiver_down)
    return "node " + node_ + " went away";
  return system_->render(err);
}

shell_connection::shell_connection(const config& cfg, const shell_target& target,
                                   std::chrono::milliseconds connect_timeout) {
  if (!cfg.tls.enabled)
    throw shell_error(
        "the shell needs the TLS channel ([tls] enabled = false in the configuration)");
  auto me = check_operator_files(target.key_path, target.cert_path);
  operator_ = me.name;
  auto reg = registry::load(expand_node(cfg.tls.registry, target.node));
  auto where = target.host + ":" + std::to_string(target.port);
  private_dir_.emplace("shell");
  auto bundle_path = private_dir_->path() + "/nodes.pem";
  auto bundle = trusted_bundle(cfg, reg, false, "shell");
  if (bundle.empty())
    throw shell_error("no node certificate in " + cfg.tls.certificates +
                      " matches the registry: nothing to trust");
  write_file_atomically(bundle_path, bundle, 0600, true);

  sys_cfg_ = std::make_unique<caf::actor_system_config>();
  register_messages(*sys_cfg_);
  sys_cfg_->load<caf::io::middleman>();
  sys_cfg_->load<caf::openssl::manager>();
  // The node drops a link whose heartbeats stop: beat like a node does.
  sys_cfg_->set("middleman.heartbeat-interval", to_timespan(cfg.channel.heartbeat_interval));
  sys_cfg_->set("middleman.connection-timeout", to_timespan(cfg.channel.connection_timeout));
  sys_cfg_->set("scheduler.max-threads", 2);
  sys_cfg_->set("openssl.certificate", target.cert_path);
  sys_cfg_->set("openssl.key", target.key_path);
  sys_cfg_->set("openssl.cafile", bundle_path);
  system_ = std::make_unique<caf::actor_system>(*sys_cfg_);
  self_ = std::make_unique<caf::scoped_actor>(*system_, true);

  // CAF's own connect blocks its whole middleman for minutes on a silent address.
  std::string detail;
  if (tcp_connect(target.host, target.port, connect_timeout, &detail) != check_status::ok)
    throw shell_error("cannot reach " + where + ": " + detail);
  caf::actor gateway;
  std::string problem;
  // CAF 0.17.6 drops a dialed connection whose TLS and BASP handshakes are not done by its first
  // heartbeat tick; on a loaded machine that happens now and then: try again, as the nodes do.
  auto backoff = cfg.channel.reconnect_min;
  for (int attempt = 1; !gateway && attempt <= 4; ++attempt) {
    bool slow = false;
    (*self_)
        ->request(system_->openssl_manager().actor_handle(), connect_timeout * 2,
                  caf::connect_atom::value, target.host, target.port)
        .receive(
            [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
              gateway = caf::actor_cast<caf::actor>(std::move(ptr));
              if (!gateway)
                problem = "nothing is published at " + where;
            },
            [&](caf::error& err) {
              slow = err == caf::sec::connection_timeout;
              problem =
                  "TLS connection to " + where + " failed (" + system_->render(err) + "): " +
                  (slow ? "the handshakes did not finish within [channel] heartbeat_interval "
                          "(an overloaded node or machine)"
                        : "the node does not trust operator " + operator_ +
                              "'s certificate (is it in the node's certificates directory and "
                              "registry?), or this shell does not trust the node's");
            });
    if (gateway || !slow)
      break;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, cfg.channel.reconnect_max);
  }
  if (!gateway)
    throw shell_error(problem);

  auto nonce = make_nonce();
  std::optional<welcome> answer;
  (*self_)
      ->request(gateway, connect_timeout, operator_hello{operator_, nonce})
      .receive([&](welcome& w) { answer = std::move(w); },
               [&](caf::error& err) { problem = describe(err); });
  if (!answer)
    throw shell_error(where + " refused the shell: " + problem);
  if (!target.node.empty() && answer->node != target.node)
    throw shell_error(where + " is node '" + answer->node + "', not '" + target.node + "'");
  auto entry = reg.find_name(answer->node);
  if (entry == nullptr || entry->is_operator)
    throw shell_error(where + " says it is node '" + answer->node + "', which the registry " +
                      expand_node(cfg.tls.registry, target.node) + " does not know");
  if (!verify(entry->public_key, welcome_text(nonce, answer->node, operator_party(operator_)),
              answer->signature))
    throw shell_error(where + " could not prove it is node '" + answer->node + "'");
  node_ = answer->node;

  auto signature =
      sign(target.key_path, proof_text(answer->nonce, operator_party(operator_), node_));
  (*self_)
      ->request(gateway, connect_timeout, operator_proof{operator_, signature})
      .receive([&](caf::actor& console) { console_ = std::move(console); },
               [&](caf::error& err) { problem = describe(err); });
  if (!console_)
    throw shell_error("node " + node_ + " refused the shell: " + problem);
  (*self_)->monitor(console_);
}

void shell_connection::stream(bool events, bool log, std::chrono::milliseconds duration,
                              const std::atomic<bool>& stop,
                              const std::function<void(const node_event&)>& on_event,
                              const std::function<void(const log_line&)>& on_log) {
  ask<void>(std::chrono::seconds{5}, watch_atom::value, events, log);
  auto deadline = std::chrono::steady_clock::now() + duration;
  bool gone = false;
  while (!stop && !gone && (duration.count() == 0 || std::chrono::steady_clock::now() < deadline)) {
    (*self_)->receive([&](const node_event& x) { on_event(x); },
                      [&](const log_line& x) { on_log(x); },
                      [&](const caf::down_msg&) { gone = true; },
                      caf::after(std::chrono::milliseconds{100}) >> [] {});
  }
  if (gone)
    throw shell_error("node " + node_ + " went away");
  try {
    ask<void>(std::chrono::seconds{5}, unwatch_atom::value);
  } catch (const shell_error&) {
    // Whatever is left of the stream ends with the connection.
  }
}

} // namespace montana
