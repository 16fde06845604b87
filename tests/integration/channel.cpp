#define CAF_SUITE integration.channel
#include "caf/test/dsl.hpp"

#include "runtime/identity.hpp"
#include "runtime/registry.hpp"
#include "support/cluster.hpp"
#include "support/process.hpp"

#include <filesystem>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

/// A listening socket whose accept queue is full: SYNs to it are dropped, like a
/// host that silently swallows packets.
struct black_hole {
  int listener = -1;
  int filler = -1;

  black_hole(const std::string& host, uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    listener = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener, 0) != 0)
      throw std::runtime_error("cannot make a black hole on " + host);
    filler = ::socket(AF_INET, SOCK_STREAM, 0);
    ::connect(filler, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }

  ~black_hole() {
    ::close(filler);
    ::close(listener);
  }
};

} // namespace

CAF_TEST(a peer address that swallows packets delays no other link) {
  cluster c;
  const auto& silent = *c.cfg().find_node("novosibirsk");
  black_hole hole{silent.host, silent.port};
  auto started = std::chrono::steady_clock::now();
  for (const auto& n : {"amsterdam", "moscow", "almaty", "spb"})
    c.start(n);
  auto meshed = wait_until(
      [&] {
        for (const auto& n : {"amsterdam", "moscow", "almaty", "spb"})
          if (linked_nodes(c.at(n)).size() != 3)
            return false;
        return true;
      },
      5s);
  CAF_CHECK(meshed);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  CAF_MESSAGE("four nodes meshed in " << took.count() << " ms next to a black hole");
  CAF_CHECK(c.wait_for_holder("amsterdam", 15s));
  // The silent address never became a link.
  for (const auto& l : linked_nodes(c.at("amsterdam")))
    CAF_CHECK_NOT_EQUAL(l, "novosibirsk");
}

CAF_TEST(a second process with a node key leaves no link half dead) {
  cluster c;
  c.start_all();
  CAF_REQUIRE(c.wait_for_holder("amsterdam", 15s));
  CAF_REQUIRE(wait_until([&] { return linked_nodes(c.at("novosibirsk")).size() == 4; }, 10s));
  // A process holding spb's key links to novosibirsk, holds the link a while and exits. It used
  // to leave spb believing in a link novosibirsk had dropped, for minutes.
  const auto& target = *c.cfg().find_node("novosibirsk");
  auto ids = c.identities();
  auto out = c.dir() + "/client.out";
  auto code = run_tool({"/usr/bin/python3", MONTANA_SOURCE_DIR "/tests/support/wire_client.py",
                        "tls", target.host, std::to_string(target.port), ids + "/spb.crt",
                        ids + "/spb.key", ids + "/novosibirsk.crt", "hello:spb", "read:2"},
                       out);
  CAF_CHECK_EQUAL(code, 0);
  // Within a heartbeat timeout both ends agree again, and the link works both ways.
  auto agreed = wait_until(
      [&] {
        auto spb = linked_nodes(c.at("spb"));
        auto novosibirsk = linked_nodes(c.at("novosibirsk"));
        return std::count(spb.begin(), spb.end(), "novosibirsk") == 1 &&
               std::count(novosibirsk.begin(), novosibirsk.end(), "spb") == 1;
      },
      c.cfg().channel.connection_timeout + 2s);
  CAF_CHECK(agreed);
  CAF_CHECK_EQUAL(c.running(), std::vector<std::string>{"amsterdam"});
}

CAF_TEST(a node with a rotated certificate is accepted again without restarting the others) {
  cluster c;
  c.start_all();
  CAF_REQUIRE(c.wait_for_holder("amsterdam", 15s));
  c.kill("spb");
  // spb gets a new key pair: new certificate in the shared directory, new registry entry.
  auto dir = c.cfg().tls.certificates;
  std::filesystem::remove(dir + "/spb.key");
  std::filesystem::remove(dir + "/spb.crt");
  auto fresh = create_identity("spb", dir);
  register_identity(c.cfg().tls.registry, fresh.files.cert_path, c.cfg(), std::string{"spb"});
  c.start("spb");
  auto relinked = wait_until([&] { return linked_nodes(c.at("spb")).size() == 4; }, 10s);
  CAF_CHECK(relinked);
  CAF_CHECK_EQUAL(c.running().size(), 1u);
}
