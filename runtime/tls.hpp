// Process-wide TLS policy for the 19333 channel.
#pragma once

#include <cstdint>
#include <string>

namespace montana {

/// The key-exchange groups we offer, best first: a hybrid post-quantum group
/// (X25519MLKEM768) when the linked OpenSSL has one (3.5 and later), else classic ones.
std::string tls_groups();

/// Makes every TLS context this process builds TLS 1.3-only with tls_groups(), by loading
/// an OpenSSL configuration before anything else initialises OpenSSL (caf::openssl offers no
/// hook for a minimum version). Idempotent. Throws std::runtime_error with one line when the
/// policy did not take effect (OpenSSL was initialised earlier by someone else).
void enforce_tls13();

/// Incoming TLS handshakes this process refused on `host:port` since start (any local address
/// with that port when `host` is empty or a wildcard): the metric `montana_tls_refusals_total`.
uint64_t tls_refusals(const std::string& host, uint16_t port);

} // namespace montana
