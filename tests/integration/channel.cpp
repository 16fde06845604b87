#define CAF_SUITE integration.channel
#include "caf/test/dsl.hpp"

#include "runtime/identity.hpp"
#include "runtime/registry.hpp"
#include "support/cluster.hpp"

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

CAF_TEST(garbage from outside is dropped and the cluster keeps working) {
  // Plain transport, so that a stranger can speak CAF to the gateway at all.
  cluster c{profile::test, [](config& cfg) { cfg.tls.enabled = false; }};
  c.start_all();
  CAF_REQUIRE(c.wait_for_holder("amsterdam", 15s));
  const auto& target = *c.cfg().find_node("moscow");
  // Raw bytes on the channel port.
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(target.port);
    ::inet_pton(AF_INET, target.host.c_str(), &addr.sin_addr);
    CAF_REQUIRE_EQUAL(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    std::string junk(4096, '\x5a');
    CAF_CHECK(::write(fd, junk.data(), junk.size()) > 0);
    ::close(fd);
  }
  // Well-formed CAF messages the gateway does not expect, from a stranger.
  caf::actor_system_config cfg;
  register_messages(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system stranger{cfg};
  auto gateway = stranger.middleman().remote_actor(target.host, target.port);
  CAF_REQUIRE(gateway);
  caf::scoped_actor self{stranger};
  auto expect_error = [&](auto msg) {
    bool failed = false;
    self->request(*gateway, 2s, std::move(msg))
        .receive([](const caf::message&) {}, [&](caf::error&) { failed = true; });
    return failed;
  };
  CAF_CHECK(expect_error(std::string{"hello?"}));
  CAF_CHECK(expect_error(hello{"mallory", caf::actor{self}, 1, "n"}));
  CAF_CHECK(expect_error(hello{"moscow", caf::actor{self}, 1, "n"}));
  self->send(*gateway, claim{"bot", "amsterdam", 99}); // not over amsterdam's own link
  self->send(*gateway, claim{"nosuchduty", "amsterdam", 99});
  self->send(*gateway, released{"bot", "spb", 1, 1000});
  // The gateway still answers and the duty did not move.
  auto question = ping{"test", 7};
  bool answered = false;
  self->request(*gateway, 2s, question)
      .receive([&](const pong& p) { answered = p.node == "moscow" && p.seq == 7; },
               [](caf::error&) {});
  CAF_CHECK(answered);
  std::this_thread::sleep_for(500ms);
  auto running = c.running();
  CAF_REQUIRE_EQUAL(running.size(), 1u);
  CAF_CHECK_EQUAL(running[0], "amsterdam");
  // And failover still works.
  c.kill("amsterdam");
  CAF_CHECK(c.wait_for_holder("moscow", 15s));
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
