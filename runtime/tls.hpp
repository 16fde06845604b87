// The TLS policy of the 19333 channel, in one place: TLS 1.3 only, the key-exchange groups, no
// session resumption (every connection proves its certificate's key afresh), and peer
// certificates judged by the application (keys pinned by the registry), not by a CA.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

struct x509_store_ctx_st; // OpenSSL's X509_STORE_CTX

namespace montana {

/// The key-exchange groups we offer, best first: a hybrid post-quantum group
/// (X25519MLKEM768) when the linked OpenSSL has one (3.5 and later), else classic ones.
std::string tls_groups();

/// Decides a peer's certificate during the handshake (OpenSSL's certificate verification
/// callback, in place of any chain building); returns 1 to accept, 0 to refuse.
using certificate_judge = int (*)(x509_store_ctx_st* store, void* arg);

/// A context for both ends of a link: this node's key and certificate (PEM text), a
/// certificate required from every peer, `judge(store, arg)` deciding it. Throws
/// std::runtime_error with one line when OpenSSL refuses a setting or the PEM.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& key_pem,
                                                            const std::string& certificate_pem,
                                                            certificate_judge judge, void* arg);

} // namespace montana
