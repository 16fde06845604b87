#include "actors/handshake.hpp"

#include <fmt/format.h>

#include <random>

namespace montana {

std::string make_nonce() {
  static thread_local std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i)
    out += fmt::format("{:08x}", rd());
  return out;
}

std::string welcome_text(const std::string& nonce, const std::string& acceptor,
                         const std::string& dialer) {
  return "montana welcome " + nonce + " from " + acceptor + " to " + dialer;
}

std::string proof_text(const std::string& nonce, const std::string& dialer,
                       const std::string& acceptor) {
  return "montana proof " + nonce + " from " + dialer + " to " + acceptor;
}

std::string operator_party(const std::string& name) {
  return "operator " + name;
}

} // namespace montana
