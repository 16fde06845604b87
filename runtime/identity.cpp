#include "runtime/identity.hpp"

#include "messages/wire.hpp"

#include "runtime/net_check.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <system_error>

namespace montana {

namespace {

constexpr std::string_view domain = ".montana.network";

// Certificates start an hour in the past so that a node whose clock runs behind the creator's
// still accepts a fresh one.
constexpr long clock_skew_seconds = 3600;

// Key and certificate files are a few hundred bytes; anything far larger is the wrong file.
constexpr off_t max_pem_size = 1 << 20;

template <auto Free>
struct openssl_free {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_free<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_free<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_free<BIO_free_all>>;
using bignum_ptr = std::unique_ptr<BIGNUM, openssl_free<BN_free>>;
using extension_ptr = std::unique_ptr<X509_EXTENSION, openssl_free<X509_EXTENSION_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, openssl_free<EVP_MD_CTX_free>>;

/// Private key text that is wiped from memory when it goes away.
class secret_text {
public:
  secret_text() = default;
  secret_text(const secret_text&) = delete;
  secret_text& operator=(const secret_text&) = delete;
  ~secret_text() { OPENSSL_cleanse(text.data(), text.size()); }

  std::string text;
};

/// errno as a short lower-case phrase: "no such file or directory".
std::string describe_errno(int err) {
  auto text = std::generic_category().message(err);
  if (!text.empty())
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

/// Throws the one-line error "<file>: <problem>". OpenSSL's error queue is emptied first: a
/// stale entry there would be blamed on the next, unrelated TLS call (CAF's included).
[[noreturn]] void fail(const std::string& file, const std::string& problem) {
  ERR_clear_error();
  throw identity_error{file + ": " + problem};
}

/// The reason of OpenSSL's latest error, for failures that are not the user's.
std::string openssl_reason() {
  auto code = ERR_peek_last_error();
  std::string reason = code != 0 && ERR_reason_error_string(code) != nullptr
                           ? ERR_reason_error_string(code)
                           : "unknown OpenSSL error";
  ERR_clear_error();
  return reason;
}

bool is_node_name(std::string_view name) {
  // The config's node name rule, plus the DNS label limit: the name becomes <name>.montana.network.
  return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

/// Reads a PEM file whole; `what` names its role in errors ("private key").
void read_pem_file(const std::string& path, const char* what, std::string& text, mode_t& mode) {
  text = read_regular_file(path, what, max_pem_size, &mode);
  if (text.find("-----BEGIN ") == std::string::npos)
    fail(path, std::string{"not PEM: no -----BEGIN line where a "} + what + " should be");
}

std::string key_type(const EVP_PKEY* key) {
  const char* name = key ? EVP_PKEY_get0_type_name(key) : nullptr;
  return name ? name : "of an unknown type";
}

/// Never ask for a passphrase: OpenSSL's default would prompt on the terminal and block a service.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

pkey_ptr load_private_key(const std::string& path) {
  secret_text pem;
  mode_t mode = 0;
  read_pem_file(path, "private key", pem.text, mode);
  if ((mode & S_IRWXO) != 0) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode & 07777));
    fail(path, std::string{"the private key is accessible to every user (mode "} + octal +
                   "); chmod 600 it");
  }
  // PKCS#8 ("BEGIN ENCRYPTED PRIVATE KEY") and legacy PEM ("Proc-Type: 4,ENCRYPTED") encryption.
  if (pem.text.find("-----BEGIN ENCRYPTED") != std::string::npos ||
      pem.text.find("4,ENCRYPTED") != std::string::npos)
    fail(path, "the private key is encrypted; a node needs it unencrypted (mode 0600)");
  bio_ptr bio{BIO_new_mem_buf(pem.text.data(), static_cast<int>(pem.text.size()))};
  pkey_ptr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)};
  if (!key)
    fail(path, "not a PEM private key");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519)
    fail(path, "the private key is " + key_type(key.get()) + ", not Ed25519");
  return key;
}

x509_ptr load_certificate(const std::string& path) {
  std::string pem;
  mode_t mode = 0;
  read_pem_file(path, "certificate", pem, mode);
  bio_ptr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  x509_ptr cert{PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)};
  if (!cert)
    fail(path, "not a PEM certificate");
  return cert;
}

std::string raw_public_key(const EVP_PKEY& key) {
  size_t size = 0;
  if (EVP_PKEY_get_raw_public_key(&key, nullptr, &size) != 1)
    return {};
  std::string raw(size, '\0');
  EVP_PKEY_get_raw_public_key(&key, reinterpret_cast<unsigned char*>(raw.data()), &size);
  return raw;
}

/// The only `nid` entry of `name`; nullopt when absent. Two entries (a second CN that one
/// verifier reads and another ignores) are refused.
std::optional<std::string> only_entry(const X509_NAME* name, int nid, const char* label,
                                      const std::string& path) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0)
    return std::nullopt;
  if (X509_NAME_get_index_by_NID(name, nid, index) >= 0)
    fail(path, std::string{"the certificate has more than one "} + label);
  unsigned char* utf8 = nullptr;
  int size = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
  if (size < 0)
    fail(path, std::string{"the certificate's "} + label + " is not text");
  std::string text{reinterpret_cast<char*>(utf8), static_cast<size_t>(size)};
  OPENSSL_free(utf8);
  return text;
}

std::chrono::system_clock::time_point time_point_of(const ASN1_TIME* time) {
  std::tm tm{};
  ASN1_TIME_to_tm(time, &tm);
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string utc(std::chrono::system_clock::time_point when) {
  auto seconds = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

// Not const: OpenSSL caches the parsed extensions in the certificate on first use.
identity_info info_of(X509& cert, const std::string& path) {
  identity_info info;
  auto* key = X509_get0_pubkey(&cert);
  if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
    fail(path, "the certificate's key is " + key_type(key) + ", not Ed25519");
  auto raw = raw_public_key(*key);
  info.public_key = to_hex(raw);
  info.address = address_of(raw);

  auto* subject = X509_get_subject_name(&cert);
  auto cn = only_entry(subject, NID_commonName, "CN", path);
  if (!cn)
    fail(path, "the certificate has no CN");
  auto name = std::string_view{*cn}.substr(0, cn->size() - std::min(cn->size(), domain.size()));
  if (!cn->ends_with(domain) || !is_node_name(name))
    fail(path, "CN '" + wire::printable(*cn) + "' is not <node name>" + std::string{domain});
  info.name = name;
  info.uid = only_entry(subject, NID_userId, "UID", path).value_or("");
  // Without the extension every usage is allowed.
  info.serves = (X509_get_extended_key_usage(&cert) & XKU_SSL_SERVER) != 0;

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(&cert, EVP_sha256(), digest, &size) != 1)
    fail(path, "cannot hash the certificate: " + openssl_reason());
  static constexpr char upper[] = "0123456789ABCDEF";
  for (unsigned int i = 0; i < size; ++i) {
    if (i > 0)
      info.fingerprint += ':';
    info.fingerprint += upper[digest[i] >> 4];
    info.fingerprint += upper[digest[i] & 0xf];
  }
  info.not_before = time_point_of(X509_get0_notBefore(&cert));
  info.not_after = time_point_of(X509_get0_notAfter(&cert));
  info.files.cert_path = path;
  return info;
}

void add_extension(X509& cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, &cert, &cert, nullptr, nullptr, 0);
  extension_ptr ext{X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str())};
  if (!ext || X509_add_ext(&cert, ext.get(), -1) != 1)
    throw identity_error{"cannot add certificate extension " + value + ": " + openssl_reason()};
}

x509_ptr make_certificate(EVP_PKEY& key, const std::string& name, int days) {
  auto alias = node_alias(name);
  auto address = address_of(raw_public_key(key));
  x509_ptr cert{X509_new()};
  // A random positive serial of 16 bytes (RFC 5280 allows up to 20): two certificates of the same
  // name never share issuer and serial, which some verifiers treat as the same certificate.
  unsigned char serial[16];
  if (!cert || RAND_bytes(serial, sizeof serial) != 1)
    throw identity_error{"cannot create a certificate: " + openssl_reason()};
  serial[0] &= 0x7f;
  bignum_ptr number{BN_bin2bn(serial, sizeof serial, nullptr)};
  auto* subject = X509_get_subject_name(cert.get());
  bool ok = X509_set_version(cert.get(), X509_VERSION_3) == 1 && number &&
            BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert.get())) != nullptr &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -clock_skew_seconds) != nullptr &&
            X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr) != nullptr &&
            X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(alias.c_str()), -1,
                                       -1, 0) == 1 &&
            X509_NAME_add_entry_by_NID(subject, NID_userId, MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(address.c_str()), -1,
                                       -1, 0) == 1 &&
            X509_set_issuer_name(cert.get(), subject) == 1 &&
            X509_set_pubkey(cert.get(), &key) == 1;
  if (!ok)
    throw identity_error{"cannot create a certificate: " + openssl_reason()};
  // An end-entity certificate that is its own trust anchor: OpenSSL 3.0 accepts a self-signed
  // CA:FALSE certificate found in the cafile (the tests run `openssl verify` and a handshake),
  // so it never needs the power to sign other certificates. A node both dials and accepts.
  add_extension(*cert, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(*cert, NID_key_usage, "critical,digitalSignature");
  add_extension(*cert, NID_ext_key_usage, "serverAuth,clientAuth");
  add_extension(*cert, NID_subject_alt_name, "DNS:" + alias);
  add_extension(*cert, NID_subject_key_identifier, "hash");
  // Ed25519 signs the message itself: no separate digest.
  if (X509_sign(cert.get(), &key, nullptr) <= 0)
    throw identity_error{"cannot sign the certificate: " + openssl_reason()};
  return cert;
}

/// The PEM text OpenSSL writes into a memory BIO by `write`.
template <class Write>
void pem_of(std::string& out, Write write) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || write(bio.get()) != 1)
    throw identity_error{"cannot encode PEM: " + openssl_reason()};
  char* data = nullptr;
  auto size = BIO_get_mem_data(bio.get(), &data);
  out.assign(data, static_cast<size_t>(size));
  // The memory BIO's buffer held the key too.
  OPENSSL_cleanse(data, static_cast<size_t>(size));
}

void write_all(int fd, std::string_view text, const std::string& path) {
  while (!text.empty()) {
    auto n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail(path, "cannot write: " + describe_errno(errno));
    text.remove_prefix(static_cast<size_t>(n));
  }
}

} // namespace

std::string node_alias(const std::string& name) {
  return name + std::string{domain};
}

std::string address_of(std::string_view raw_public_key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(raw_public_key.data(), raw_public_key.size(), digest, &size, EVP_sha256(),
                 nullptr) != 1)
    throw identity_error{"SHA-256 failed: " + openssl_reason()};
  return "mt" + to_hex(std::string_view{reinterpret_cast<char*>(digest), 20});
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) {
    hex += digits[byte >> 4];
    hex += digits[byte & 0xf];
  }
  return hex;
}

std::optional<std::string> from_hex(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  if (text.size() % 2 != 0)
    return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int high = value(text[i]);
    int low = value(text[i + 1]);
    if (high < 0 || low < 0)
      return std::nullopt;
    bytes += static_cast<char>(high * 16 + low);
  }
  return bytes;
}

void write_file_atomically(const std::string& path, std::string_view text, unsigned mode,
                           bool replace) {
  auto target = std::filesystem::path{path};
  auto dir = target.parent_path().empty() ? std::filesystem::path{"."} : target.parent_path();
  auto temp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  unique_fd fd{::mkostemp(temp.data(), O_CLOEXEC)};
  if (!fd)
    fail(path, "cannot create a temporary file next to it: " + describe_errno(errno));
  try {
    if (::fchmod(fd.get(), mode) != 0)
      fail(path, "cannot set the mode of its temporary file: " + describe_errno(errno));
    write_all(fd.get(), text, path);
    // Durable before it becomes visible: after a crash the file is either old or complete.
    if (::fsync(fd.get()) != 0)
      fail(path, "cannot write: " + describe_errno(errno));
    fd.reset();
    int moved = replace
                    ? ::rename(temp.c_str(), path.c_str())
                    : ::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    if (moved != 0)
      fail(path, errno == EEXIST ? std::string{"already exists"}
                                 : "cannot rename the temporary file: " + describe_errno(errno));
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  unique_fd dir_fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (dir_fd)
    ::fsync(dir_fd.get());
}

identity_info create_identity(const std::string& name, const std::string& out_dir, int days) {
  if (!is_node_name(name))
    throw identity_error{"'" + wire::printable(name) +
                         "' is not a node name: 1 to 63 characters of a-z, 0-9 and '-'"};
  auto dir = std::filesystem::path{out_dir};
  identity_files files{(dir / (name + ".key")).string(), (dir / (name + ".crt")).string()};
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    // The directory of private keys is nobody else's business.
    if (ec || ::chmod(out_dir.c_str(), 0700) != 0)
      fail(out_dir, "cannot create the directory: " + (ec ? ec.message() : describe_errno(errno)));
  }
  struct stat st {};
  if (::lstat(files.key_path.c_str(), &st) == 0)
    fail(files.key_path, "already exists; a node's key is never replaced (move it away first)");

  pkey_ptr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")};
  if (!key)
    throw identity_error{"cannot generate an Ed25519 key: " + openssl_reason()};
  auto cert = make_certificate(*key, name, days);
  secret_text key_pem;
  pem_of(key_pem.text, [&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  std::string cert_pem;
  pem_of(cert_pem, [&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); });

  write_file_atomically(files.key_path, key_pem.text, 0600, false);
  try {
    write_file_atomically(files.cert_path, cert_pem, 0644, true);
  } catch (...) {
    // A key without its certificate would block the next attempt for nothing.
    ::unlink(files.key_path.c_str());
    throw;
  }
  auto info = info_of(*cert, files.cert_path);
  info.files = files;
  return info;
}

std::string read_regular_file(const std::string& path, const std::string& what, size_t max_size,
                              mode_t* mode) {
  // Non-blocking open: a FIFO in the key's place must not hang the start-up.
  unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (!fd)
    fail(path, "cannot read the " + what + ": " + describe_errno(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    fail(path, "cannot read the " + what + ": " + describe_errno(errno));
  if (S_ISDIR(st.st_mode))
    fail(path, "the " + what + " is a directory, not a file");
  if (!S_ISREG(st.st_mode))
    fail(path, "the " + what + " is not a regular file");
  if (static_cast<size_t>(st.st_size) > max_size)
    fail(path, "too large for a " + what + " (" + std::to_string(st.st_size) + " bytes)");
  if (mode != nullptr)
    *mode = st.st_mode;
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail(path, "cannot read the " + what + ": " + describe_errno(errno));
    if (n == 0)
      break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return text;
}

identity_info inspect_certificate(const std::string& cert_path) {
  return info_of(*load_certificate(cert_path), cert_path);
}

identity_info describe_certificate(X509& cert, const std::string& origin) {
  return info_of(cert, origin);
}

identity_info check_identity_files(const std::string& key_path, const std::string& cert_path,
                                   const std::string& expected_name) {
  auto info = inspect_certificate(cert_path);
  auto key = load_private_key(key_path);
  if (to_hex(raw_public_key(*key)) != info.public_key)
    fail(key_path, "does not belong to " + cert_path + " (its public key differs)");
  if (info.uid != info.address)
    fail(cert_path, "UID '" + wire::printable(info.uid) +
                        "' does not match the address of its key (" + info.address + ")");
  if (!info.serves)
    fail(cert_path, "does not allow TLS server use (extended key usage); a node both dials and "
                    "accepts: make a new identity");
  auto now = std::chrono::system_clock::now();
  if (now < info.not_before)
    fail(cert_path, "not valid before " + utc(info.not_before));
  if (now > info.not_after)
    fail(cert_path, "expired on " + utc(info.not_after));
  if (info.name != expected_name)
    fail(cert_path, "CN is " + node_alias(info.name) + ", expected " + node_alias(expected_name));
  info.files.key_path = key_path;
  return info;
}

std::string describe_identity(const identity_info& info) {
  using std::chrono::duration_cast;
  auto left = info.not_after - std::chrono::system_clock::now();
  auto days = duration_cast<std::chrono::hours>(left).count() / 24;
  std::string text;
  text += "name: " + info.name + "\n";
  text += "alias: " + node_alias(info.name) + "\n";
  text += "address: " + info.address + "\n";
  text += info.uid == info.address
              ? "uid: matches the address\n"
              : "uid: '" + wire::printable(info.uid) + "' DOES NOT MATCH the address of the key\n";
  text += "public key: " + info.public_key + "\n";
  text += "fingerprint: SHA256 " + info.fingerprint + "\n";
  text += "not before: " + utc(info.not_before) + "\n";
  text += "not after: " + utc(info.not_after) +
          (left.count() < 0 ? " (EXPIRED)\n" : " (" + std::to_string(days) + " days left)\n");
  return text;
}

namespace {

std::string sign_with(EVP_PKEY* key, const std::string& key_path, std::string_view data) {
  md_ctx_ptr ctx{EVP_MD_CTX_new()};
  size_t size = 0;
  auto* in = reinterpret_cast<const unsigned char*>(data.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, in, data.size()) != 1)
    fail(key_path, "cannot sign: " + openssl_reason());
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, in,
                     data.size()) != 1)
    fail(key_path, "cannot sign: " + openssl_reason());
  signature.resize(size);
  return to_hex(signature);
}

} // namespace

std::string sign(const std::string& key_path, std::string_view data) {
  auto key = load_private_key(key_path);
  return sign_with(key.get(), key_path, data);
}

signing_key::signing_key(const std::string& key_path)
    : path_(key_path), key_(load_private_key(key_path).release(), &EVP_PKEY_free) {}

std::string signing_key::sign(std::string_view data) const {
  return sign_with(key_.get(), path_, data);
}

bool verify(std::string_view public_key_hex, std::string_view data,
            std::string_view signature_hex) {
  auto raw = from_hex(public_key_hex);
  auto signature = from_hex(signature_hex);
  // Ed25519: 32-byte keys, 64-byte signatures.
  if (!raw || raw->size() != 32 || !signature || signature->size() != 64)
    return false;
  pkey_ptr key{EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw->data()), raw->size())};
  md_ctx_ptr ctx{EVP_MD_CTX_new()};
  bool valid =
      key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()),
                       signature->size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) == 1;
  ERR_clear_error();
  return valid;
}

} // namespace montana
