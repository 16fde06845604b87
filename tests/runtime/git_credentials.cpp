#define CAF_SUITE runtime.git_credentials
#include "caf/test/dsl.hpp"

#include "runtime/git_credentials.hpp"
#include "runtime/git_repo.hpp"
#include "support/git_fixture.hpp"

#include <git2.h>

#include <arpa/inet.h>
#include <atomic>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>

using namespace montana;
using namespace montana::testing;

namespace {

constexpr unsigned ssh_kinds =
    GIT_CREDENTIAL_SSH_KEY | GIT_CREDENTIAL_SSH_CUSTOM | GIT_CREDENTIAL_SSH_INTERACTIVE;

/// An HTTP server on 127.0.0.1 that refuses every request with 401 (Basic) and remembers the
/// Authorization headers it was sent.
class refusing_server {
public:
  refusing_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      CAF_FAIL("cannot listen on 127.0.0.1");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { serve(); }};
  }

  ~refusing_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  uint16_t port() const { return port_; }

  /// The Authorization header of every request, "" for a request without one.
  std::vector<std::string> authorizations() {
    std::lock_guard<std::mutex> guard{mutex_};
    return authorizations_;
  }

private:
  void serve() {
    while (!stop_) {
      pollfd waiting{fd_, POLLIN, 0};
      if (::poll(&waiting, 1, 20) <= 0)
        continue;
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0)
        continue;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        auto n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0)
          break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      std::string authorization;
      if (auto at = request.find("Authorization: "); at != std::string::npos)
        authorization = request.substr(at + 15, request.find("\r\n", at) - at - 15);
      {
        std::lock_guard<std::mutex> guard{mutex_};
        authorizations_.push_back(authorization);
      }
      const std::string reply =
          "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic "
          "realm=\"montana\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(client);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> authorizations_;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(git_credentials_tests, git_fixture)

CAF_TEST(an ssh key is offered once with its public key and the user of the url or the default) {
  breath_credentials settings;
  settings.ssh_key = (dir / "id_ed25519").string();
  write_file(settings.ssh_key, "private\n");
  write_file(settings.ssh_key + ".pub", "public\n");
  credential_picker picker{settings};
  auto first = picker.pick("", ssh_kinds);
  CAF_REQUIRE(first.has_value());
  CAF_CHECK(first->type == credential::kind::ssh_key);
  CAF_CHECK_EQUAL(first->user, "git");
  CAF_CHECK_EQUAL(first->private_key, settings.ssh_key);
  CAF_CHECK_EQUAL(first->public_key, settings.ssh_key + ".pub");
  CAF_CHECK(!picker.pick("", ssh_kinds));
  CAF_CHECK_EQUAL(picker.refusal(), "the remote refused ssh key " + settings.ssh_key);
  fs::remove(settings.ssh_key + ".pub");
  credential_picker from_url{settings};
  auto named = from_url.pick("deploy", ssh_kinds);
  CAF_REQUIRE(named.has_value());
  CAF_CHECK_EQUAL(named->user, "deploy");
  CAF_CHECK_EQUAL(named->public_key, "");
  settings.ssh_key = (dir / "missing").string();
  credential_picker missing{settings};
  CAF_CHECK(!missing.pick("", ssh_kinds));
  CAF_CHECK_EQUAL(missing.refusal(), "cannot read ssh key " + settings.ssh_key);
}

CAF_TEST(the ssh user name is offered once when the url names none) {
  breath_credentials settings;
  settings.ssh_user = "montana";
  credential_picker picker{settings};
  auto answer = picker.pick("", GIT_CREDENTIAL_USERNAME);
  CAF_REQUIRE(answer.has_value());
  CAF_CHECK(answer->type == credential::kind::username);
  CAF_CHECK_EQUAL(answer->user, "montana");
  CAF_CHECK(!picker.pick("", GIT_CREDENTIAL_USERNAME));
}

CAF_TEST(a token comes from the first line of its file or from the environment once) {
  breath_credentials settings;
  settings.token_file = (dir / "token").string();
  write_file(settings.token_file, "s3cret-token \nsecond line\n");
  credential_picker picker{settings};
  auto answer = picker.pick("", GIT_CREDENTIAL_USERPASS_PLAINTEXT | GIT_CREDENTIAL_DEFAULT);
  CAF_REQUIRE(answer.has_value());
  CAF_CHECK(answer->type == credential::kind::token);
  CAF_CHECK_EQUAL(answer->user, "x-access-token");
  CAF_CHECK_EQUAL(answer->token, "s3cret-token");
  CAF_CHECK(!picker.pick("", GIT_CREDENTIAL_USERPASS_PLAINTEXT));
  CAF_CHECK_EQUAL(picker.refusal(), "the remote refused the token of " + settings.token_file);
  settings.token_file.clear();
  settings.token_env = "MONTANA_TEST_TOKEN";
  ::setenv("MONTANA_TEST_TOKEN", "from-env", 1);
  credential_picker env{settings};
  auto from_env = env.pick("ci", GIT_CREDENTIAL_USERPASS_PLAINTEXT);
  CAF_REQUIRE(from_env.has_value());
  CAF_CHECK_EQUAL(from_env->user, "ci");
  CAF_CHECK_EQUAL(from_env->token, "from-env");
  ::unsetenv("MONTANA_TEST_TOKEN");
  credential_picker unset{settings};
  CAF_CHECK(!unset.pick("", GIT_CREDENTIAL_USERPASS_PLAINTEXT));
  CAF_CHECK_EQUAL(unset.refusal(), "$MONTANA_TEST_TOKEN is empty");
  credential_picker nothing{breath_credentials{}};
  CAF_CHECK(!nothing.pick("", GIT_CREDENTIAL_USERPASS_PLAINTEXT));
  CAF_CHECK_EQUAL(nothing.refusal(), "the remote asks for credentials and none of the kind it "
                                     "accepts are configured (breath.credentials)");
}

CAF_TEST(an https remote refusing the token ends the fetch after one attempt without a secret) {
  refusing_server server;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/data.git";
  must(git(a, "remote set-url origin " + url));
  breath_credentials settings;
  settings.token_file = (dir / "token").string();
  write_file(settings.token_file, "s3cret-token\n");
  auto repo = git_repo::open(a.string(), settings);
  auto message = error_of([&] { repo.fetch("origin", "main"); });
  CAF_MESSAGE(message);
  CAF_CHECK_EQUAL(message, "git fetch origin main (" + url + ") [" + a.string() +
                               "]: authentication refused: the remote refused the token of " +
                               settings.token_file);
  auto seen = server.authorizations();
  CAF_REQUIRE_EQUAL(seen.size(), 2u); // the anonymous request, then one with the token
  CAF_CHECK_EQUAL(seen[0], "");
  CAF_CHECK_EQUAL(seen[1], "Basic eC1hY2Nlc3MtdG9rZW46czNjcmV0LXRva2Vu"); // x-access-token:...
  // Credentials in the URL never reach a message.
  must(git(a, "remote set-url origin http://montana:url-s3cret@127.0.0.1:" +
                  std::to_string(server.port()) + "/data.git"));
  message = error_of([&] { git_repo::open(a.string(), settings).fetch("origin", "main"); });
  CAF_CHECK_EQUAL(message.find("s3cret"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(message.find("(http://127.0.0.1:"), std::string::npos);
  // Without credentials configured the refusal says so at once.
  auto bare = git_repo::open(a.string());
  CAF_CHECK_NOT_EQUAL(error_of([&] { bare.fetch("origin", "main"); }).find("are configured"),
                      std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
