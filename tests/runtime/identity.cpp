// Node identities, checked against the real `openssl` tool: what it reads from our files, and a
// TLS 1.3 handshake with client certificates between its s_server and s_client on loopback.
#define CAF_SUITE runtime.identity
#include "caf/test/dsl.hpp"

#include "runtime/identity.hpp"
#include "support/cluster.hpp"
#include "support/files.hpp"
#include "support/guard.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

/// One started `openssl` with `args`; stdin reads `input`, stdout and stderr share one file.
/// SIGKILLed and reaped by its pid if it still runs at the end.
class openssl_process {
public:
  openssl_process(const std::string& dir, const std::vector<std::string>& args,
                  const std::string& input = "") {
    if (openssl_tool().empty())
      GUARD_FAIL("no openssl tool on PATH");
    static int counter = 0;
    auto base = dir + "/openssl" + std::to_string(++counter);
    out_path_ = base + ".out";
    if (!write_file(base + ".in", input))
      GUARD_FAIL("cannot write " << base << ".in");
    std::vector<std::string> argv{openssl_tool()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string problem;
    pid_ = spawn_child(std::move(argv), base + ".in", out_path_, problem);
    if (pid_ < 0)
      GUARD_FAIL(problem);
    live_children.push_back(pid_);
  }

  ~openssl_process() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      std::erase(live_children, pid_);
    }
  }

  openssl_process(const openssl_process&) = delete;
  openssl_process& operator=(const openssl_process&) = delete;

  /// The exit code once the process has ended within `timeout` (-N when killed by signal N).
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    wait_until(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            std::erase(live_children, pid_);
          }
          return status_.has_value();
        },
        timeout);
    return status_;
  }

  std::string output() const { return read_file(out_path_); }

private:
  std::string out_path_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct run_result {
  int code = 0;
  std::string output;
};

/// Runs `openssl args...` to its end (required within 10 s).
run_result openssl(const std::string& dir, const std::vector<std::string>& args,
                   const std::string& input = "") {
  openssl_process p{dir, args, input};
  auto code = p.wait(10s);
  if (!code)
    GUARD_FAIL("openssl " << args.front() << " still runs after 10 s: " << p.output());
  return {*code, p.output()};
}

/// What `openssl s_server` and one `openssl s_client` saw of a TLS 1.3 connection.
struct handshake_result {
  int client_code = 0;
  std::string client;
  std::string server;
};

/// The files one end of a connection uses: its own key and certificate, and the peer it pins.
struct tls_end {
  identity_files own;
  std::string cafile;
};

/// One connection, TLS 1.3 only, the server requiring a client certificate, both ends failing on
/// any verification error; the client sends an HTTP request that `-www` answers.
handshake_result handshake(const std::string& dir, const tls_end& server, const tls_end& client) {
  auto address = "127.0.0.1:" + std::to_string(free_port("127.0.0.1"));
  openssl_process s{dir,
                    {"s_server", "-accept", address, "-cert", server.own.cert_path, "-key",
                     server.own.key_path, "-CAfile", server.cafile, "-Verify", "1", "-tls1_3",
                     "-verify_return_error", "-naccept", "1", "-www"}};
  if (!wait_until([&] { return contains(s.output(), "ACCEPT"); }, 10s))
    GUARD_FAIL("s_server did not start: " << s.output());
  auto c = openssl(dir,
                   {"s_client", "-connect", address, "-cert", client.own.cert_path, "-key",
                    client.own.key_path, "-CAfile", client.cafile, "-tls1_3",
                    "-verify_return_error", "-ign_eof"},
                   "GET / HTTP/1.0\r\n\r\n");
  // -naccept 1: the server ends after this connection; the destructor kills it if not.
  s.wait(5s);
  return {c.code, c.output, s.output()};
}

/// The one-line identity_error `f` throws, which must name `file`; fails the test if none.
template <class F>
std::string error_of(F f, const std::string& file) {
  try {
    f();
  } catch (const identity_error& e) {
    std::string message = e.what();
    CAF_CHECK_EQUAL(message.find('\n'), std::string::npos);
    CAF_CHECK(message.starts_with(file + ": "));
    return message;
  }
  GUARD_FAIL("no identity_error about " << file);
}

bool is_lower_hex(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct fixture : scratch {
  fixture() : scratch{"identity"} {}
};

/// Whole seconds from `a` to `b`.
long long seconds_between(std::chrono::system_clock::time_point a,
                          std::chrono::system_clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::seconds>(b - a).count();
}

constexpr long long day = 24 * 3600;

} // namespace

CAF_TEST_FIXTURE_SCOPE(identity_tests, fixture)

CAF_TEST(create writes a private 0600 PKCS8 key and a certificate that inspect reads back) {
  auto before = std::chrono::system_clock::now();
  auto made = create_identity("amsterdam", path("keys"));
  CAF_CHECK_EQUAL(made.files.key_path, path("keys/amsterdam.key"));
  CAF_CHECK_EQUAL(made.files.cert_path, path("keys/amsterdam.crt"));
  struct stat st {};
  GUARD_REQUIRE(::stat(made.files.key_path.c_str(), &st) == 0);
  CAF_CHECK_EQUAL(st.st_mode & 07777, 0600u);
  GUARD_REQUIRE(::stat(made.files.cert_path.c_str(), &st) == 0);
  CAF_CHECK_EQUAL(st.st_mode & 07777, 0644u);
  GUARD_REQUIRE(::stat(path("keys").c_str(), &st) == 0);
  CAF_CHECK_EQUAL(st.st_mode & 07777, 0700u);
  CAF_CHECK(read_file(made.files.key_path).starts_with("-----BEGIN PRIVATE KEY-----\n"));
  CAF_CHECK(read_file(made.files.cert_path).starts_with("-----BEGIN CERTIFICATE-----\n"));
  // Only the two files: no temporary file left behind.
  CAF_CHECK_EQUAL(std::distance(std::filesystem::directory_iterator{path("keys")},
                                std::filesystem::directory_iterator{}),
                  2);

  CAF_CHECK_EQUAL(made.name, "amsterdam");
  CAF_CHECK_EQUAL(made.address.size(), 42u);
  CAF_CHECK(made.address.starts_with("mt"));
  CAF_CHECK(is_lower_hex(made.address.substr(2)));
  CAF_CHECK_EQUAL(made.uid, made.address);
  CAF_CHECK_EQUAL(made.public_key.size(), 64u);
  CAF_CHECK(made.serves);
  CAF_CHECK_EQUAL(made.address, address_of(*from_hex(made.public_key)));
  // Valid from an hour ago for two years (the certificate's times have whole seconds).
  CAF_CHECK_LESS_OR_EQUAL(seconds_between(made.not_before, before), 3601);
  CAF_CHECK_GREATER_OR_EQUAL(seconds_between(made.not_before, before), 3599);
  CAF_CHECK_LESS_OR_EQUAL(seconds_between(before, made.not_after), 730 * day + 1);
  CAF_CHECK_GREATER_OR_EQUAL(seconds_between(before, made.not_after), 730 * day - 2);

  auto read = inspect_certificate(made.files.cert_path);
  CAF_CHECK_EQUAL(read.name, made.name);
  CAF_CHECK_EQUAL(read.address, made.address);
  CAF_CHECK_EQUAL(read.uid, made.address);
  CAF_CHECK_EQUAL(read.public_key, made.public_key);
  CAF_CHECK_EQUAL(read.fingerprint, made.fingerprint);
  CAF_CHECK(read.not_after == made.not_after);
  CAF_CHECK_EQUAL(read.files.key_path, "");

  auto checked = check_identity_files(made.files.key_path, made.files.cert_path, "amsterdam");
  CAF_CHECK_EQUAL(checked.address, made.address);
  CAF_CHECK_EQUAL(checked.files.key_path, made.files.key_path);
}

CAF_TEST(the address is the one openssl computes from the raw public key) {
  auto made = create_identity("moscow", dir);
  // DER SubjectPublicKeyInfo of Ed25519: a 12-byte header, then the raw 32-byte key.
  auto der = openssl(dir, {"pkey", "-in", made.files.key_path, "-pubout", "-outform", "DER", "-out",
                           path("moscow.pub.der")});
  GUARD_REQUIRE(der.code == 0);
  auto spki = read_file(path("moscow.pub.der"));
  GUARD_REQUIRE(spki.size() == 44u);
  auto raw = spki.substr(12);
  CAF_CHECK_EQUAL(to_hex(raw), made.public_key);
  if (!write_file(path("moscow.raw"), raw))
    GUARD_FAIL("cannot write moscow.raw");
  auto digest = openssl(dir, {"dgst", "-sha256", "-r", path("moscow.raw")});
  GUARD_REQUIRE(digest.code == 0);
  CAF_CHECK_EQUAL("mt" + digest.output.substr(0, 40), made.address);
}

CAF_TEST(openssl reads CN UID SAN and constraints and verifies the cert as its own anchor) {
  auto made = create_identity("almaty", dir);
  auto shown = openssl(dir, {"x509", "-in", made.files.cert_path, "-noout", "-subject", "-ext",
                             "subjectAltName,basicConstraints,keyUsage,extendedKeyUsage"});
  GUARD_REQUIRE(shown.code == 0);
  CAF_CHECK(contains(shown.output, "CN = almaty.montana.network"));
  CAF_CHECK(contains(shown.output, "UID = " + made.address));
  CAF_CHECK(contains(shown.output, "DNS:almaty.montana.network"));
  CAF_CHECK(contains(shown.output, "CA:FALSE"));
  CAF_CHECK(contains(shown.output, "Digital Signature"));
  CAF_CHECK(contains(shown.output, "TLS Web Server Authentication, TLS Web Client Authentication"));
  auto fingerprint =
      openssl(dir, {"x509", "-in", made.files.cert_path, "-noout", "-fingerprint", "-sha256"});
  CAF_CHECK(contains(fingerprint.output, "=" + made.fingerprint + "\n"));
  auto verified = openssl(dir, {"verify", "-CAfile", made.files.cert_path, made.files.cert_path});
  CAF_CHECK_EQUAL(verified.code, 0);
  CAF_CHECK(contains(verified.output, ": OK"));
}

CAF_TEST(two node identities complete a TLS 1.3 handshake with client certificates) {
  auto a = create_identity("amsterdam", dir);
  auto b = create_identity("moscow", dir);
  auto r = handshake(dir, {a.files, b.files.cert_path}, {b.files, a.files.cert_path});
  CAF_CHECK_EQUAL(r.client_code, 0);
  CAF_CHECK(contains(r.client, "New, TLSv1.3"));
  CAF_CHECK(contains(r.client, "Peer signature type: ed25519"));
  CAF_CHECK(contains(r.client, "Verify return code: 0 (ok)"));
  CAF_CHECK(contains(r.client, "HTTP/1.0 200 ok"));
  // The server's page lists the client certificate it verified; its log names it.
  CAF_CHECK(contains(r.client, "Client certificate"));
  CAF_CHECK(contains(r.server, "CN = moscow.montana.network, UID = " + b.address));
  if (r.client_code != 0)
    CAF_MESSAGE("client:\n" << r.client << "\nserver:\n" << r.server);
}

CAF_TEST(a client certificate outside the pinned cafile is refused) {
  auto a = create_identity("amsterdam", dir);
  auto b = create_identity("moscow", dir);
  // amsterdam presents its own, valid certificate where the server pins only moscow's.
  auto r = handshake(dir, {a.files, b.files.cert_path}, {a.files, a.files.cert_path});
  CAF_CHECK_NOT_EQUAL(r.client_code, 0);
  CAF_CHECK(!contains(r.client, "HTTP/1.0 200 ok"));
  CAF_CHECK(contains(r.server, "verify error"));
}

CAF_TEST(a certificate for TLS clients only is no node certificate) {
  auto made =
      openssl(dir, {"req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "1", "-subj",
                    "/CN=amsterdam.montana.network", "-addext", "extendedKeyUsage=clientAuth",
                    "-keyout", path("client.key"), "-out", path("client.crt")});
  CAF_REQUIRE(made.code == 0);
  CAF_CHECK(!inspect_certificate(path("client.crt")).serves);
  CAF_CHECK(inspect_certificate(create_identity("amsterdam", dir).files.cert_path).serves);
}

CAF_TEST(create refuses to replace a key and refuses names that are no node names) {
  auto made = create_identity("spb", dir);
  auto key = read_file(made.files.key_path);
  auto message = error_of([&] { create_identity("spb", dir); }, made.files.key_path);
  CAF_CHECK(contains(message, "already exists"));
  CAF_CHECK_EQUAL(read_file(made.files.key_path), key);
  for (const auto& name :
       std::vector<std::string>{"", "Amsterdam", "a/b", "a.b", std::string(64, 'a')}) {
    try {
      create_identity(name, dir);
      CAF_ERROR("no error for name '" << name << "'");
    } catch (const identity_error& e) {
      CAF_CHECK(contains(e.what(), "is not a node name"));
    }
  }
}

CAF_TEST(check_identity_files names the file that is missing or wrong in one line) {
  auto a = create_identity("amsterdam", dir);
  auto b = create_identity("moscow", dir);
  auto check = [&](const std::string& key, const std::string& cert, const std::string& name) {
    return [=] { check_identity_files(key, cert, name); };
  };

  auto missing = path("nowhere.key");
  CAF_CHECK(contains(error_of(check(missing, a.files.cert_path, "amsterdam"), missing),
                     "cannot read the private key: no such file or directory"));
  missing = path("nowhere.crt");
  CAF_CHECK(contains(error_of(check(a.files.key_path, missing, "amsterdam"), missing),
                     "cannot read the certificate: no such file or directory"));
  CAF_CHECK(contains(error_of(check(dir, a.files.cert_path, "amsterdam"), dir),
                     "the private key is a directory, not a file"));
  // A FIFO in the key's place used to block the start-up in open() until someone wrote to it.
  auto fifo = path("fifo.key");
  CAF_REQUIRE_EQUAL(::mkfifo(fifo.c_str(), 0600), 0);
  auto asked = std::chrono::steady_clock::now();
  CAF_CHECK(contains(error_of(check(fifo, a.files.cert_path, "amsterdam"), fifo),
                     "the private key is not a regular file"));
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - asked, std::chrono::seconds{5});

  auto text = path("text.crt");
  write_file(text, "hello\n");
  CAF_CHECK(contains(error_of(check(a.files.key_path, text, "amsterdam"), text), "not PEM"));
  auto garbage = path("garbage.crt");
  write_file(garbage, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
  CAF_CHECK(contains(error_of(check(a.files.key_path, garbage, "amsterdam"), garbage),
                     "not a PEM certificate"));
  // The two files swapped.
  CAF_CHECK(
      contains(error_of(check(a.files.cert_path, a.files.key_path, "amsterdam"), a.files.key_path),
               "not a PEM certificate"));

  auto mismatch = error_of(check(a.files.key_path, b.files.cert_path, "moscow"), a.files.key_path);
  CAF_CHECK(contains(mismatch, "does not belong to " + b.files.cert_path));
  auto wrong_name =
      error_of(check(a.files.key_path, a.files.cert_path, "moscow"), a.files.cert_path);
  CAF_CHECK(
      contains(wrong_name, "CN is amsterdam.montana.network, expected moscow.montana.network"));

  auto old = create_identity("almaty", dir, -1);
  CAF_CHECK(std::chrono::system_clock::now() > old.not_after);
  CAF_CHECK(contains(
      error_of(check(old.files.key_path, old.files.cert_path, "almaty"), old.files.cert_path),
      "expired on "));
  auto verified = openssl(dir, {"verify", "-CAfile", old.files.cert_path, old.files.cert_path});
  CAF_CHECK(contains(verified.output, "certificate has expired"));

  ::chmod(a.files.key_path.c_str(), 0644);
  auto open_key =
      error_of(check(a.files.key_path, a.files.cert_path, "amsterdam"), a.files.key_path);
  CAF_CHECK(contains(open_key, "accessible to every user (mode 0644)"));
  ::chmod(a.files.key_path.c_str(), 0600);
  check_identity_files(a.files.key_path, a.files.cert_path, "amsterdam");
}

CAF_TEST(keys of other algorithms and encrypted keys are refused without a prompt) {
  auto a = create_identity("amsterdam", dir);
  auto ec = path("ec.key");
  GUARD_REQUIRE(openssl(dir, {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                              "-out", ec})
                    .code == 0);
  ::chmod(ec.c_str(), 0600);
  auto message = error_of([&] { check_identity_files(ec, a.files.cert_path, "amsterdam"); }, ec);
  CAF_CHECK(contains(message, "EC, not Ed25519"));

  auto locked = path("locked.key");
  GUARD_REQUIRE(openssl(dir, {"pkey", "-in", a.files.key_path, "-aes256", "-passout", "pass:secret",
                              "-out", locked})
                    .code == 0);
  ::chmod(locked.c_str(), 0600);
  message = error_of([&] { sign(locked, "challenge"); }, locked);
  CAF_CHECK(contains(message, "encrypted"));
}

CAF_TEST(a signature verifies with the public key of the certificate and a forged one does not ) {
  auto a = create_identity("amsterdam", dir);
  auto b = create_identity("moscow", dir);
  std::string challenge = "montana challenge 42";
  auto signature = sign(a.files.key_path, challenge);
  CAF_CHECK_EQUAL(signature.size(), 128u);
  CAF_CHECK(is_lower_hex(signature));
  CAF_CHECK(verify(a.public_key, challenge, signature));
  // Ed25519 is deterministic: the same key signs the same data the same way.
  CAF_CHECK_EQUAL(sign(a.files.key_path, challenge), signature);

  auto forged = signature;
  forged[10] = forged[10] == '0' ? '1' : '0';
  CAF_CHECK(!verify(a.public_key, challenge, forged));
  CAF_CHECK(!verify(a.public_key, "montana challenge 43", signature));
  CAF_CHECK(!verify(b.public_key, challenge, signature));
  CAF_CHECK(!verify(a.public_key, challenge, sign(b.files.key_path, challenge)));
  CAF_CHECK(!verify(a.public_key, challenge, signature.substr(2)));
  CAF_CHECK(!verify(a.public_key, challenge, "zz" + signature.substr(2)));
  CAF_CHECK(!verify(a.public_key.substr(2), challenge, signature));
  CAF_CHECK(!verify("", challenge, ""));

  // The same signature verifies with openssl and the certificate as the only input.
  write_file(path("data"), challenge);
  write_file(path("sig"), *from_hex(signature));
  auto checked = openssl(dir, {"pkeyutl", "-verify", "-certin", "-inkey", a.files.cert_path,
                               "-rawin", "-in", path("data"), "-sigfile", path("sig")});
  CAF_CHECK_EQUAL(checked.code, 0);
  CAF_CHECK(contains(checked.output, "Signature Verified Successfully"));
}

CAF_TEST(show describes the identity and never the key) {
  auto a = create_identity("novosibirsk", dir);
  auto text = describe_identity(inspect_certificate(a.files.cert_path));
  CAF_CHECK(contains(text, "name: novosibirsk\n"));
  CAF_CHECK(contains(text, "alias: novosibirsk.montana.network\n"));
  CAF_CHECK(contains(text, "address: " + a.address + "\n"));
  CAF_CHECK(contains(text, "uid: matches the address\n"));
  CAF_CHECK(contains(text, "fingerprint: SHA256 " + a.fingerprint + "\n"));
  CAF_CHECK(contains(text, "(729 days left)") || contains(text, "(730 days left)"));
  CAF_CHECK(!contains(text, "PRIVATE"));
  auto key_pem = read_file(a.files.key_path);
  auto key_base64 = key_pem.substr(key_pem.find('\n') + 1, 20);
  CAF_CHECK(!contains(text, key_base64));
  auto old = create_identity("spb", dir, -1);
  CAF_CHECK(contains(describe_identity(old), "(EXPIRED)"));
}

CAF_TEST(hex helpers round trip and reject what is not hex) {
  CAF_CHECK_EQUAL(to_hex(std::string{"\x00\x7f\xff", 3}), "007fff");
  CAF_CHECK(from_hex("007FfF") == std::string("\x00\x7f\xff", 3));
  CAF_CHECK(!from_hex("abc"));
  CAF_CHECK(!from_hex("0g"));
  CAF_CHECK(from_hex("") == std::string{});
  // The address of the empty key: SHA-256("") starts e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4.
  CAF_CHECK_EQUAL(address_of(""), "mte3b0c44298fc1c149afbf4c8996fb92427ae41e4");
}

CAF_TEST_FIXTURE_SCOPE_END()
