#define CAF_SUITE runtime.ssh_host_key
#include "caf/test/dsl.hpp"

#include "runtime/ssh_host_key.hpp"
#include "support/git_fixture.hpp"

#include <libssh2.h>

#include <string>

using namespace montana;
using namespace montana::testing;

// An SSH remote's host key against known_hosts: an unknown host and a changed key are different
// errors (the second may be a man-in-the-middle). libssh2 parses the file as OpenSSH writes it.

namespace {

/// An ed25519 host key blob as an SSH server sends it: string "ssh-ed25519", string key.
std::string ed25519_blob(char fill) {
  std::string blob;
  auto put = [&](const std::string& s) {
    for (int shift : {24, 16, 8, 0})
      blob += static_cast<char>((s.size() >> shift) & 0xff);
    blob += s;
  };
  put("ssh-ed25519");
  put(std::string(32, fill));
  return blob;
}

std::string base64(const std::string& in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    for (int shift : {18, 12, 6, 0})
      out += table[(v >> shift) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size())
      v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < in.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

struct fixture {
  fs::path dir = git_fixture::make_temp_dir("montana-hostkey-XXXXXX");
  std::string known = (dir / "known_hosts").string();

  fixture() {
    write_file(known, "git.example ssh-ed25519 " + base64(ed25519_blob('a')) + "\n" +
                          "[git.example]:2222 ssh-ed25519 " + base64(ed25519_blob('b')) + "\n");
  }
  ~fixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(ssh_host_key_tests, fixture)

CAF_TEST(a listed key is known and another key of the same host has changed) {
  CAF_CHECK(check_host_key(known, "git.example", 22, ed25519_blob('a')) == host_key_verdict::known);
  CAF_CHECK(check_host_key(known, "git.example", 2222, ed25519_blob('b')) ==
            host_key_verdict::known);
  CAF_CHECK(check_host_key(known, "git.example", 22, ed25519_blob('x')) ==
            host_key_verdict::changed);
  CAF_CHECK(check_host_key(known, "other.example", 22, ed25519_blob('a')) ==
            host_key_verdict::unknown);
  CAF_CHECK(check_host_key((dir / "missing").string(), "git.example", 22, ed25519_blob('a')) ==
            host_key_verdict::unknown);
}

CAF_TEST(unknown and changed keys read differently) {
  auto unknown = host_key_problem(host_key_verdict::unknown, known, "other.example", 22);
  auto changed = host_key_problem(host_key_verdict::changed, known, "git.example", 2222);
  CAF_MESSAGE(unknown);
  CAF_MESSAGE(changed);
  CAF_CHECK_NOT_EQUAL(unknown.find("unknown ssh host key of other.example"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(changed.find("[git.example]:2222 CHANGED"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(changed.find("man-in-the-middle"), std::string::npos);
  CAF_CHECK_EQUAL(unknown.find("man-in-the-middle"), std::string::npos);
}

CAF_TEST(the key type comes from the blob) {
  CAF_CHECK_EQUAL(host_key_type(ed25519_blob('a')), LIBSSH2_KNOWNHOST_KEY_ED25519);
  CAF_CHECK_EQUAL(host_key_type("junk"), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()
