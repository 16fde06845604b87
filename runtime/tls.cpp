#include "runtime/tls.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unistd.h>

namespace montana {

std::string tls_groups() {
  // Checked by version, not by trying: building a context first would load OpenSSL's
  // default configuration and lock out ours.
  if (OpenSSL_version_num() >= 0x30500000L)
    return "X25519MLKEM768:X25519:secp256r1";
  return "X25519:secp256r1:X448";
}

namespace {

void load_policy() {
  std::string path = (std::filesystem::temp_directory_path() / "montana-openssl-XXXXXX").string();
  int fd = ::mkstemp(path.data());
  if (fd < 0)
    throw std::runtime_error("cannot write the TLS policy to " + path);
  ::close(fd);
  {
    std::ofstream out{path};
    out << "openssl_conf = montana_conf\n"
           "[montana_conf]\nssl_conf = montana_ssl\n"
           "[montana_ssl]\nsystem_default = montana_tls\n"
           "[montana_tls]\nMinProtocol = TLSv1.3\nGroups = "
        << tls_groups() << "\n";
  }
  std::unique_ptr<OPENSSL_INIT_SETTINGS, decltype(&OPENSSL_INIT_free)> settings{OPENSSL_INIT_new(),
                                                                                &OPENSSL_INIT_free};
  OPENSSL_INIT_set_config_filename(settings.get(), path.c_str());
  auto loaded = OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, settings.get());
  std::filesystem::remove(path);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe{SSL_CTX_new(TLS_method()), &SSL_CTX_free};
  if (loaded != 1 || !probe || SSL_CTX_get_min_proto_version(probe.get()) != TLS1_3_VERSION)
    throw std::runtime_error("cannot make TLS 1.3 the minimum: OpenSSL was initialised before "
                             "the TLS policy was loaded");
}

} // namespace

void enforce_tls13() {
  static std::once_flag once;
  std::call_once(once, load_policy);
}

} // namespace montana

// caf::openssl (0.17.6) calls SSL_read/SSL_write/SSL_connect/SSL_accept without clearing the
// thread's OpenSSL error queue first, so SSL_get_error() reads errors left by another session on
// the same multiplexer thread: when one peer dies, every other TLS link that thread serves is
// closed as failed too. These definitions take precedence over libssl's for the whole process
// (the executable's symbols win), clear the queue, and call the real function.
namespace {

template <class Fn>
Fn real(const char* name) {
  static_assert(sizeof(Fn) == sizeof(void*));
  Fn fn = nullptr;
  auto sym = ::dlsym(RTLD_NEXT, name);
  std::memcpy(&fn, &sym, sizeof(fn));
  return fn;
}

std::string address_text(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (addr.ss_family == AF_INET) {
    auto& v4 = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &v4.sin_addr, host, sizeof(host));
    port = ntohs(v4.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto& v6 = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof(host));
    port = ntohs(v6.sin6_port);
  }
  return std::string{host} + ":" + std::to_string(port);
}

/// Refused incoming handshakes per local address ("host:port"), for montana::tls_refusals().
std::mutex refusals_mutex;
std::map<std::string, uint64_t> refusals;

void count_refusal(const std::string& local) {
  std::lock_guard<std::mutex> guard{refusals_mutex};
  ++refusals[local];
}

/// CAF refuses a bad handshake (TLS 1.2, no or an unknown certificate) without a word: say
/// why, once per remote address and minute, so a flood costs one line.
void log_refusal(SSL* ssl, int ret, const char* direction) {
  if (ret > 0 || SSL_get_error(ssl, ret) != SSL_ERROR_SSL)
    return;
  char reason[256] = "unknown reason";
  if (auto code = ERR_peek_error())
    ERR_error_string_n(code, reason, sizeof(reason));
  sockaddr_storage local{};
  sockaddr_storage remote{};
  socklen_t len = sizeof(local);
  ::getsockname(SSL_get_fd(ssl), reinterpret_cast<sockaddr*>(&local), &len);
  len = sizeof(remote);
  ::getpeername(SSL_get_fd(ssl), reinterpret_cast<sockaddr*>(&remote), &len);
  auto peer = address_text(remote);
  auto host = peer.substr(0, peer.rfind(':'));
  if (std::string_view{direction} == "from")
    count_refusal(address_text(local));
  static std::mutex mutex;
  static std::map<std::string, std::chrono::steady_clock::time_point> last;
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> guard{mutex};
    if (last.size() > 1024) // many distinct hosts: start over rather than grow
      last.clear();
    auto [it, fresh] = last.try_emplace(host, now);
    if (!fresh && now - it->second < std::chrono::minutes{1})
      return;
    it->second = now;
  }
  if (std::string_view{direction} == "from")
    spdlog::warn("[tls {}] refused a handshake from {}: {}", address_text(local), peer, reason);
  else
    spdlog::warn("[tls {}] handshake to {} failed: {}", address_text(local), peer, reason);
}

} // namespace

extern "C" int SSL_read(SSL* ssl, void* buf, int num) {
  static auto next = real<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return next(ssl, buf, num);
}

extern "C" int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto next = real<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return next(ssl, buf, num);
}

extern "C" int SSL_connect(SSL* ssl) {
  static auto next = real<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  auto ret = next(ssl);
  log_refusal(ssl, ret, "to");
  return ret;
}

extern "C" int SSL_accept(SSL* ssl) {
  static auto next = real<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  auto ret = next(ssl);
  log_refusal(ssl, ret, "from");
  return ret;
}

uint64_t montana::tls_refusals(const std::string& host, uint16_t port) {
  auto suffix = ":" + std::to_string(port);
  auto any = host.empty() || host == "0.0.0.0" || host == "::";
  uint64_t total = 0;
  std::lock_guard<std::mutex> guard{refusals_mutex};
  for (const auto& [local, count] : refusals)
    if (local.size() > suffix.size() && local.ends_with(suffix) && (any || local == host + suffix))
      total += count;
  return total;
}
