#include "runtime/ssh_host_key.hpp"

#include <libssh2.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <sys/stat.h>

namespace montana {

namespace {

struct session_free {
  void operator()(LIBSSH2_SESSION* s) const noexcept { libssh2_session_free(s); }
};
struct known_hosts_free {
  void operator()(LIBSSH2_KNOWNHOSTS* k) const noexcept { libssh2_knownhost_free(k); }
};

/// The algorithm name a host key blob starts with (an SSH string: 4-byte length, then bytes).
std::string_view algorithm(std::string_view key) {
  if (key.size() < 4)
    return {};
  auto n = (static_cast<uint32_t>(static_cast<uint8_t>(key[0])) << 24) |
           (static_cast<uint32_t>(static_cast<uint8_t>(key[1])) << 16) |
           (static_cast<uint32_t>(static_cast<uint8_t>(key[2])) << 8) |
           static_cast<uint32_t>(static_cast<uint8_t>(key[3]));
  if (n > key.size() - 4)
    return {};
  return key.substr(4, n);
}

std::string where(const std::string& host, int port) {
  return port == 22 || port <= 0 ? host : "[" + host + "]:" + std::to_string(port);
}

} // namespace

int host_key_type(std::string_view key) {
  auto name = algorithm(key);
  if (name == "ssh-rsa")
    return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
  if (name == "ssh-dss")
    return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
  if (name == "ecdsa-sha2-nistp256")
    return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
  if (name == "ecdsa-sha2-nistp384")
    return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
  if (name == "ecdsa-sha2-nistp521")
    return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
  if (name == "ssh-ed25519")
    return LIBSSH2_KNOWNHOST_KEY_ED25519;
  return 0;
}

host_key_verdict check_host_key(const std::string& known_hosts, const std::string& host, int port,
                                std::string_view key) {
  struct stat st {};
  if (::stat(known_hosts.c_str(), &st) != 0)
    return host_key_verdict::unknown;
  std::unique_ptr<LIBSSH2_SESSION, session_free> session{libssh2_session_init()};
  if (!session)
    throw std::runtime_error{"libssh2: cannot create a session"};
  std::unique_ptr<LIBSSH2_KNOWNHOSTS, known_hosts_free> hosts{
      libssh2_knownhost_init(session.get())};
  if (!hosts)
    throw std::runtime_error{"libssh2: cannot read known hosts"};
  if (libssh2_knownhost_readfile(hosts.get(), known_hosts.c_str(), LIBSSH2_KNOWNHOST_FILE_OPENSSH) <
      0)
    throw std::runtime_error{"cannot read " + known_hosts};
  const int type = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
                   (host_key_type(key) != 0 ? host_key_type(key) : LIBSSH2_KNOWNHOST_KEY_UNKNOWN);
  struct libssh2_knownhost* found = nullptr;
  switch (libssh2_knownhost_checkp(hosts.get(), host.c_str(), port <= 0 ? 22 : port, key.data(),
                                   key.size(), type, &found)) {
  case LIBSSH2_KNOWNHOST_CHECK_MATCH:
    return host_key_verdict::known;
  case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
    return host_key_verdict::changed;
  case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
    return host_key_verdict::unknown;
  default:
    throw std::runtime_error{"cannot check the host key of " + where(host, port) + " against " +
                             known_hosts};
  }
}

std::string host_key_problem(host_key_verdict verdict, const std::string& known_hosts,
                             const std::string& host, int port) {
  switch (verdict) {
  case host_key_verdict::known:
    return {};
  case host_key_verdict::unknown:
    return "unknown ssh host key of " + where(host, port) + ": " + known_hosts +
           " does not list it; check its fingerprint and add it (ssh-keyscan)";
  case host_key_verdict::changed:
    return "the ssh host key of " + where(host, port) + " CHANGED from the one in " + known_hosts +
           ": refused, possibly a man-in-the-middle; if the server's key really changed, replace "
           "its line";
  }
  return {};
}

std::string default_known_hosts() {
  const char* home = std::getenv("HOME");
  return std::string{home && *home ? home : "/nonexistent"} + "/.ssh/known_hosts";
}

} // namespace montana
