#include "runtime/trust.hpp"

#include "runtime/identity.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace montana {

namespace {

namespace fs = std::filesystem;

std::string certificate_of(const config& cfg, const std::string& node) {
  return (fs::path{expand_node(cfg.tls.certificates, node)} / (node + ".crt")).string();
}

/// Changes whenever the file is rewritten (modification time and size).
std::string stamp_of(const std::string& path) {
  std::error_code ec;
  auto when = fs::last_write_time(path, ec);
  auto size = fs::file_size(path, ec);
  return std::to_string(when.time_since_epoch().count()) + "/" + std::to_string(size);
}

/// Warns 30 days before a certificate expires.
void warn_if_expiring(const identity_info& info, const std::string& self) {
  auto left = info.not_after - std::chrono::system_clock::now();
  if (left < std::chrono::hours{24 * 30})
    spdlog::warn("[{}] certificate of {} expires in {} days: {}", self, info.name,
                 std::chrono::duration_cast<std::chrono::hours>(left).count() / 24,
                 info.files.cert_path);
}

} // namespace

trust::trust(const config& cfg, const std::string& node)
    : cfg_(cfg), node_(node), key_(expand_node(cfg.tls.key, node)),
      certificate_(certificate_of(cfg, node)) {
  auto mine = check_identity_files(key_, certificate_, node);
  signing_ = std::make_shared<signing_key>(key_);
  key_stamp_ = stamp_of(key_);
  warn_if_expiring(mine, node_);
  expiry_checked_ = std::chrono::steady_clock::now();
  auto path = expand_node(cfg.tls.registry, node);
  registry_ = registry::load(path);
  registry_stamp_ = stamp_of(path);
  auto entry = registry_.find_name(node);
  if (entry == nullptr)
    throw identity_error(path + ": no entry for this node '" + node +
                         "' (run: montana-actors identity register)");
  if (entry->public_key != mine.public_key)
    throw identity_error(path + ": the entry of '" + node + "' pins another key than " +
                         certificate_);
}

void trust::reload_registry() {
  auto path = expand_node(cfg_.tls.registry, node_);
  auto stamp = stamp_of(path);
  if (stamp == registry_stamp_)
    return;
  try {
    auto fresh = registry::load(path);
    std::lock_guard<std::mutex> guard{mutex_};
    registry_ = std::move(fresh);
    registry_stamp_ = stamp;
    spdlog::info("[{}] registry reloaded: {}", node_, path);
  } catch (const std::exception& e) {
    // Keep the last good registry: a half-written file must not lock every peer out.
    spdlog::warn("[{}] registry not reloaded: {}", node_, e.what());
  }
}

void trust::reload_key() {
  auto stamp = stamp_of(key_);
  if (stamp == key_stamp_)
    return;
  try {
    auto fresh = std::make_shared<signing_key>(key_);
    std::lock_guard<std::mutex> guard{mutex_};
    signing_ = std::move(fresh);
    key_stamp_ = stamp;
    spdlog::info("[{}] key reloaded: {}", node_, key_);
  } catch (const std::exception& e) {
    spdlog::warn("[{}] key not reloaded: {}", node_, e.what());
  }
}

bool trust::is_operator(const std::string& name) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto entry = registry_.find_name(name);
  return entry != nullptr && entry->is_operator;
}

bool trust::verify_operator(const std::string& name, const std::string& data,
                            const std::string& signature) {
  std::string public_key;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto entry = registry_.find_name(name);
    if (entry == nullptr || !entry->is_operator)
      return false;
    public_key = entry->public_key;
  }
  return montana::verify(public_key, data, signature);
}

std::string trust::sign(const std::string& data) {
  std::shared_ptr<signing_key> key;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    key = signing_;
  }
  return key->sign(data);
}

bool trust::verify(const std::string& node, const std::string& data, const std::string& signature) {
  std::string public_key;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto entry = registry_.find_name(node);
    if (entry == nullptr || entry->is_operator)
      return false;
    public_key = entry->public_key;
  }
  return montana::verify(public_key, data, signature);
}

std::string trust::sources_stamp() {
  auto stamp = stamp_of(expand_node(cfg_.tls.registry, node_));
  for (const auto& n : cfg_.nodes)
    stamp += " " + stamp_of(certificate_of(cfg_, n.name));
  std::lock_guard<std::mutex> guard{mutex_};
  for (const auto& entry : registry_.entries())
    if (entry.is_operator)
      stamp += " " + stamp_of(certificate_of(cfg_, entry.node_name));
  return stamp;
}

void trust::refresh() {
  reload_key();
  auto now = std::chrono::steady_clock::now();
  if (now - expiry_checked_ > std::chrono::hours{12}) {
    expiry_checked_ = now;
    try {
      warn_if_expiring(inspect_certificate(certificate_), node_);
    } catch (const std::exception& e) {
      spdlog::warn("[{}] {}", node_, e.what());
    }
    if (!bundle_path_.empty())
      write_bundle(bundle_path_); // warns about the peers' certificates
  }
  if (!bundle_path_.empty() && sources_stamp() != bundle_stamp_) {
    spdlog::info("[{}] certificates or registry changed: rewriting the trusted bundle", node_);
    write_bundle(bundle_path_);
  }
}

void trust::write_bundle(const std::string& path) {
  bundle_path_ = path;
  bundle_stamp_ = sources_stamp();
  reload_registry();
  registry reg;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    reg = registry_;
  }
  write_file_atomically(path, trusted_bundle(cfg_, reg, true, node_), 0644, true);
}

std::string trusted_bundle(const config& cfg, const registry& reg, bool operators,
                           const std::string& self) {
  std::string bundle;
  // One check for nodes and operators: the certificate names them, its UID is its key's
  // address, the registry pins that key for the name, and it has not expired.
  auto add = [&](const std::string& name, bool is_operator) {
    auto cert = certificate_of(cfg, name);
    try {
      auto info = inspect_certificate(cert);
      auto entry = reg.find_name(name);
      if (info.name != name)
        throw identity_error(cert + ": belongs to '" + info.name + "'");
      if (info.uid != info.address)
        throw identity_error(cert + ": its UID is not the address of its key");
      if (entry == nullptr || entry->public_key != info.public_key)
        throw identity_error(cert + ": its key is not the registry's key for " + name);
      if (info.is_operator != is_operator)
        throw identity_error(cert + (is_operator ? ": is a node's certificate, not an operator's"
                                                 : ": is an operator's certificate, not a node's"));
      if (info.not_after < std::chrono::system_clock::now())
        throw identity_error(cert + ": expired");
      if (name != self)
        warn_if_expiring(info, self);
      std::ifstream in{cert};
      std::stringstream text;
      text << in.rdbuf();
      bundle += text.str();
    } catch (const std::exception& e) {
      spdlog::warn("[{}] {} cannot {}: {}", self, is_operator ? "operator " + name : name,
                   is_operator ? "use the shell" : "link", e.what());
    }
  };
  for (const auto& n : cfg.nodes)
    add(n.name, false);
  if (operators)
    for (const auto& entry : reg.entries())
      if (entry.is_operator)
        add(entry.node_name, true);
  return bundle;
}

void create_cluster_identities(config& cfg, const std::string& dir) {
  cfg.tls.enabled = true;
  cfg.tls.key = (fs::path{dir} / "{node}.key").string();
  cfg.tls.certificates = dir;
  cfg.tls.registry = (fs::path{dir} / "nodes.json").string();
  for (const auto& n : cfg.nodes) {
    auto info = create_identity(n.name, dir);
    register_identity(cfg.tls.registry, info.files.cert_path, cfg, n.name);
  }
}

} // namespace montana
