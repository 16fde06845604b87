#include "runtime/trust.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace montana {

namespace {

namespace fs = std::filesystem;

constexpr auto warn_ahead = std::chrono::hours{24 * 30};
constexpr auto warn_every = std::chrono::hours{12};

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

/// A PEM file checked before (check_identity_files); far larger ones are refused there.
std::string text_of(const std::string& path) {
  return read_regular_file(path, "PEM file", 1 << 20);
}

/// Warns 30 days before a certificate expires.
void warn_if_expiring(const identity_info& info, const std::string& self) {
  auto left = info.not_after - std::chrono::system_clock::now();
  if (left < warn_ahead)
    spdlog::warn("[{}] certificate of {} expires in {} days{}", self, info.name,
                 std::chrono::duration_cast<std::chrono::hours>(left).count() / 24,
                 info.files.cert_path.empty() ? "" : ": " + info.files.cert_path);
}

} // namespace

trust::trust(const config& cfg, const std::string& node)
    : cfg_(cfg), node_(node), registry_path_(expand_node(cfg.tls.registry, node)),
      key_path_(expand_node(cfg.tls.key, node)), certificate_path_(certificate_of(cfg, node)) {
  auto mine = check_identity_files(key_path_, certificate_path_, node);
  own_ = own_identity{text_of(key_path_), text_of(certificate_path_), 1};
  identity_stamp_ = stamp_of(key_path_) + " " + stamp_of(certificate_path_);
  warn_if_expiring(mine, node_);
  expiry_checked_ = std::chrono::steady_clock::now();
  registry_ = registry::load(registry_path_);
  registry_stamp_ = stamp_of(registry_path_);
  auto entry = registry_.find_name(node);
  if (entry == nullptr)
    throw identity_error(registry_path_ + ": no entry for this node '" + node +
                         "' (run: montana-actors identity register)");
  if (entry->public_key != mine.public_key)
    throw identity_error(registry_path_ + ": the entry of '" + node + "' pins another key than " +
                         certificate_path_);
}

std::string trust::identify(x509_st& cert, std::string& problem) {
  identity_info info;
  try {
    info = describe_certificate(cert, "its certificate");
  } catch (const std::exception& e) {
    problem = e.what();
    return {};
  }
  std::string registered;
  bool warn = false;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto entry = registry_.find_address(info.address);
    if (entry == nullptr) {
      problem = "its certificate's key (" + info.address + ") is not in the registry";
      return {};
    }
    registered = entry->node_name;
    if (!info.serves) {
      problem = "its certificate does not allow TLS server use: no node's";
      return {};
    }
    auto now = std::chrono::steady_clock::now();
    auto& warned = peer_warned_[registered];
    if (info.not_after - std::chrono::system_clock::now() < warn_ahead &&
        now - warned > warn_every) {
      warned = now;
      warn = true;
    }
  }
  if (registered != info.name) {
    problem =
        "its certificate names " + info.name + " but carries the key registered for " + registered;
    return {};
  }
  if (cfg_.find_node(registered) == nullptr) {
    problem = "'" + registered + "' is registered but not a node of this cluster";
    return {};
  }
  auto now = std::chrono::system_clock::now();
  if (now < info.not_before) {
    problem = "the certificate of " + registered + " is not valid yet";
    return {};
  }
  if (now > info.not_after) {
    problem = "the certificate of " + registered + " has expired";
    return {};
  }
  if (warn)
    warn_if_expiring(info, node_);
  return registered;
}

own_identity trust::own() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return own_;
}

void trust::reload_registry() {
  auto stamp = stamp_of(registry_path_);
  if (stamp == registry_stamp_)
    return;
  try {
    auto fresh = registry::load(registry_path_);
    std::lock_guard<std::mutex> guard{mutex_};
    registry_ = std::move(fresh);
    registry_stamp_ = stamp;
    spdlog::info("[{}] registry reloaded: {}", node_, registry_path_);
  } catch (const std::exception& e) {
    // Keep the last good registry: a half-written file must not lock every peer out.
    spdlog::warn("[{}] registry not reloaded: {}", node_, e.what());
  }
}

void trust::reload_identity() {
  auto stamp = stamp_of(key_path_) + " " + stamp_of(certificate_path_);
  if (stamp == identity_stamp_)
    return;
  try {
    check_identity_files(key_path_, certificate_path_, node_);
    auto key = text_of(key_path_);
    auto certificate = text_of(certificate_path_);
    std::lock_guard<std::mutex> guard{mutex_};
    own_ = own_identity{std::move(key), std::move(certificate), own_.generation + 1};
    identity_stamp_ = stamp;
    spdlog::info("[{}] key and certificate reloaded: {}", node_, certificate_path_);
  } catch (const std::exception& e) {
    spdlog::warn("[{}] key and certificate not reloaded: {}", node_, e.what());
  }
}

void trust::refresh() {
  reload_registry();
  reload_identity();
  auto now = std::chrono::steady_clock::now();
  if (now - expiry_checked_ > warn_every) {
    expiry_checked_ = now;
    try {
      warn_if_expiring(inspect_certificate(certificate_path_), node_);
    } catch (const std::exception& e) {
      spdlog::warn("[{}] {}", node_, e.what());
    }
  }
}

void create_cluster_identities(config& cfg, const std::string& dir) {
  cfg.tls.key = (fs::path{dir} / "{node}.key").string();
  cfg.tls.certificates = dir;
  cfg.tls.registry = (fs::path{dir} / "nodes.json").string();
  for (const auto& n : cfg.nodes) {
    auto info = create_identity(n.name, dir);
    register_identity(cfg.tls.registry, info.files.cert_path, cfg, n.name);
  }
}

} // namespace montana
