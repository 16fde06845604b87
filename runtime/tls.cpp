#include "runtime/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

namespace montana {

namespace {

std::string openssl_reason() {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

void require(int ok, const char* what) {
  if (ok != 1)
    throw std::runtime_error(std::string{"TLS setup: "} + what + ": " + openssl_reason());
}

} // namespace

std::string tls_groups() {
  if (OpenSSL_version_num() >= 0x30500000L)
    return "X25519MLKEM768:X25519:secp256r1";
  return "X25519:secp256r1:X448";
}

std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& key_pem,
                                                            const std::string& certificate_pem,
                                                            certificate_judge judge, void* arg) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls);
  auto* native = ctx->native_handle();
  require(SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION), "TLS 1.3 as the minimum");
  require(SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION), "TLS 1.3 as the maximum");
  require(SSL_CTX_set1_groups_list(native, tls_groups().c_str()), "key-exchange groups");
  // No resumption: a resumed session would skip the peer's certificate, the only proof of who
  // it is.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  require(SSL_CTX_set_num_tickets(native, 0), "no session tickets");
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  boost::system::error_code ec;
  ctx->use_certificate(boost::asio::buffer(certificate_pem), ssl::context::pem, ec);
  if (ec)
    throw std::runtime_error("TLS setup: this node's certificate: " + ec.message());
  ctx->use_private_key(boost::asio::buffer(key_pem), ssl::context::pem, ec);
  if (ec)
    throw std::runtime_error("TLS setup: this node's key: " + ec.message());
  require(SSL_CTX_check_private_key(native), "the key does not belong to the certificate");
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(native, judge, arg);
  return ctx;
}

} // namespace montana
