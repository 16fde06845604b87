// Node identities: an Ed25519 key pair and a self-signed X.509 certificate per node.
//
// The address is the original's (montana-3mirror.md): "mt" + lower-case hex of the first 20 bytes
// of SHA-256 of the raw 32-byte public key. The certificate says CN=<name>.montana.network,
// UID=<address> and SAN DNS:<name>.montana.network; it is its own trust anchor, pinned by putting
// it in the peers' cafile. Private keys never appear in logs, output or error messages.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct evp_pkey_st; // OpenSSL's EVP_PKEY
struct x509_st;     // OpenSSL's X509

namespace montana {

/// An identity problem; `what()` is one line naming the file concerned.
class identity_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Default validity of a new certificate: two years.
inline constexpr int default_certificate_days = 730;

/// Where a node's private key and certificate live.
struct identity_files {
  std::string key_path;
  std::string cert_path;
};

/// What a certificate says, with the address recomputed from its public key.
struct identity_info {
  /// The node name: the CN without ".montana.network".
  std::string name;
  /// "mt" + 40 hex digits, computed from the public key (never taken from the UID).
  std::string address;
  /// The UID field as written in the certificate; differs from `address` in a forged one.
  std::string uid;
  /// The raw Ed25519 public key, lower-case hex (64 digits), as in nodes.json.
  std::string public_key;
  /// SHA-256 of the DER certificate as `openssl x509 -fingerprint -sha256` prints it.
  std::string fingerprint;
  /// Whether the certificate allows TLS server use, which a node needs (it both dials and
  /// accepts).
  bool serves = false;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  /// The files read or written; `key_path` is empty after inspect_certificate.
  identity_files files;
};

/// "<name>.montana.network": the CN, SAN and registry alias of node `name`.
std::string node_alias(const std::string& name);

/// The address of a raw public key (bytes, not hex).
std::string address_of(std::string_view raw_public_key);

/// Lower-case hex of `bytes`.
std::string to_hex(std::string_view bytes);

/// The bytes of lower- or upper-case hex `text`; nullopt for anything else (odd length too).
std::optional<std::string> from_hex(std::string_view text);

/// The whole of the regular file `path` (a FIFO, a device or a directory is refused at once, never
/// waited on), at most `max_size` bytes; `what` names its role in errors ("private key"), and
/// `mode`, when given, receives its mode. Throws identity_error with one line naming the file.
std::string read_regular_file(const std::string& path, const std::string& what, size_t max_size,
                              unsigned* mode = nullptr);

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so
/// readers (and a crash) see the old or the new file, never part of one; `mode` applies from the
/// start. With `replace` false an existing `path` stays and is an error. Throws identity_error.
void write_file_atomically(const std::string& path, std::string_view text, unsigned mode,
                           bool replace);

/// Generates a key pair for node `name` and writes `<out_dir>/<name>.key` (PEM
/// PKCS#8, mode 0600) and `<out_dir>/<name>.crt`, each atomically; creates `out_dir` (mode 0700)
/// if needed. The certificate is valid from an hour ago (clock skew between nodes) until `days`
/// days from now; a negative `days` gives an already expired one. Refuses to replace a key.
identity_info create_identity(const std::string& name, const std::string& out_dir,
                              int days = default_certificate_days);

/// Reads a PEM certificate of this format. Throws identity_error when the file is missing,
/// unreadable, not a PEM certificate, not Ed25519, or its CN is not <name>.montana.network.
identity_info inspect_certificate(const std::string& cert_path);

/// The same for a certificate in memory (a peer's, from a TLS handshake); `origin` names it in
/// errors.
identity_info describe_certificate(x509_st& cert, const std::string& origin);

/// Everything a node checks before it listens: both files readable PEM, the key Ed25519,
/// unencrypted and not accessible to others, the key belonging to the certificate, the UID
/// matching the key, the certificate allowing TLS server use, valid now, with CN
/// `node_alias(expected_name)`. Throws identity_error.
identity_info check_identity_files(const std::string& key_path, const std::string& cert_path,
                                   const std::string& expected_name);

/// Multi-line text for `identity show`: name, kind, address, UID check, fingerprint, validity.
std::string describe_identity(const identity_info& info);

/// Signs `data` with the Ed25519 key in `key_path`; the signature is lower-case hex (128 digits),
/// as the original's sign_message. Throws identity_error naming the key file.
std::string sign(const std::string& key_path, std::string_view data);

/// A private key read once, so that signing touches no file (the gateway signs on a scheduler
/// thread).
class signing_key {
public:
  /// Reads `key_path`; throws identity_error naming it.
  explicit signing_key(const std::string& key_path);
  /// Like sign(key_path, data).
  std::string sign(std::string_view data) const;

private:
  std::string path_;
  std::shared_ptr<evp_pkey_st> key_;
};

/// Whether `signature_hex` is a valid Ed25519 signature of `data` by `public_key_hex`. Malformed
/// input of any kind is simply not valid.
bool verify(std::string_view public_key_hex, std::string_view data, std::string_view signature_hex);

} // namespace montana
