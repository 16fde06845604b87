// The texts both ends of a link (or a shell and a node) sign in the gateway handshake. They name
// both ends and the direction, so a signature serves only the one handshake it was made for;
// the nonces make each one fresh.
#pragma once

#include <string>

namespace montana {

/// 128 random bits, hex: what the other side must sign.
std::string make_nonce();

/// What the acceptor signs: the dialer's nonce, from acceptor to dialer.
std::string welcome_text(const std::string& nonce, const std::string& acceptor,
                         const std::string& dialer);

/// What the dialer signs: the acceptor's nonce, from dialer to acceptor.
std::string proof_text(const std::string& nonce, const std::string& dialer,
                       const std::string& acceptor);

/// How an operator is named in the signed texts ("operator alice"): never a node's name.
std::string operator_party(const std::string& name);

} // namespace montana
