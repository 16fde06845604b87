// The SSH remote's host key against the service user's known_hosts, told apart as libgit2 1.5
// does not: an unknown host (add its key) and a changed key (possibly a man-in-the-middle; never
// accepted) give different errors. Uses libssh2's known-hosts parser; no network.
#pragma once

#include <string>
#include <string_view>

namespace montana {

/// What known_hosts says about a host key.
enum class host_key_verdict {
  /// Listed for this host: go on.
  known,
  /// The host is not listed (or known_hosts is missing): refused until an operator adds it.
  unknown,
  /// The host is listed with another key of this type: refused, possibly a man-in-the-middle.
  changed,
};

/// The libssh2 key type bits (LIBSSH2_KNOWNHOST_KEY_*) of a key whose blob starts with the
/// algorithm name ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", ...); 0 when unknown.
int host_key_type(std::string_view key);

/// Checks `key` (the raw blob the server sent) of `host`:`port` against `known_hosts`.
/// Throws std::runtime_error when the file exists but cannot be read or parsed.
host_key_verdict check_host_key(const std::string& known_hosts, const std::string& host, int port,
                                std::string_view key);

/// The one-line error for a refused key: names the host, the file and what to do.
std::string host_key_problem(host_key_verdict verdict, const std::string& known_hosts,
                             const std::string& host, int port);

/// `$HOME/.ssh/known_hosts` (what libgit2 and OpenSSH read for the service user).
std::string default_known_hosts();

} // namespace montana
