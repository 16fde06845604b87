#define CAF_SUITE integration.hung_remote
#include "caf/test/dsl.hpp"

#include "actors/breather.hpp"
#include "tests/support/clones.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

// A remote that hangs costs one breath: a node breathes through an endpoint on loopback that
// relays to a real git daemon, accepts and never answers, or stalls in the middle of a pack.
// Every fetch ends at its deadline, the next breath starts afresh on a new connection and goes
// through once the remote is back, and a node stops within its bound while the remote hangs.

namespace {

/// A TCP endpoint in front of the git daemon on 127.0.0.1:`upstream`.
class remote_switch {
public:
  enum class mode { relay, silent, stall };

  explicit remote_switch(uint16_t upstream) : upstream_{upstream} {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0)
      throw std::runtime_error{"remote_switch: cannot listen"};
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    threads_.emplace_back([this] { accept_loop(); });
  }

  ~remote_switch() {
    stopping_ = true;
    for (auto& t : threads_)
      t.join();
    ::close(listener_);
  }

  void set(mode m) { mode_ = m; }
  uint16_t port() const { return port_; }

private:
  void accept_loop() {
    while (!stopping_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0)
        continue;
      std::lock_guard<std::mutex> guard{mutex_};
      threads_.emplace_back([this, client, m = mode_.load()] { serve(client, m); });
    }
  }

  void serve(int client, mode m) {
    int server = -1;
    if (m != mode::silent) {
      server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(upstream_);
      if (::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(server);
        ::close(client);
        return;
      }
    }
    std::string seen; // what the server sent, to find the start of the pack
    std::size_t forwarded = 0;
    bool stalled = false;
    while (!stopping_) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, static_cast<short>(stalled ? 0 : POLLIN), 0}};
      if (::poll(fds, server < 0 ? 1 : 2, 50) <= 0)
        continue;
      char buffer[4096];
      if (fds[0].revents & (POLLIN | POLLHUP)) {
        auto n = ::read(client, buffer, sizeof buffer);
        if (n <= 0)
          break;
        if (server >= 0 && ::write(server, buffer, static_cast<std::size_t>(n)) != n)
          break;
      }
      if (server >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
        auto n = ::read(server, buffer, sizeof buffer);
        if (n <= 0)
          break;
        std::size_t pass = static_cast<std::size_t>(n);
        if (m == mode::stall) {
          seen.append(buffer, pass);
          if (auto at = seen.find("PACK"); at != std::string::npos) {
            // The pack's first 64 bytes, then nothing more.
            auto limit = at + 64;
            pass = forwarded >= limit ? 0 : std::min(pass, limit - forwarded);
            stalled = true;
          }
        }
        if (pass > 0 && ::write(client, buffer, pass) != static_cast<ssize_t>(pass))
          break;
        forwarded += pass;
      }
    }
    if (server >= 0)
      ::close(server);
    ::close(client);
  }

  uint16_t upstream_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<mode> mode_ = mode::relay;
  std::atomic<bool> stopping_ = false;
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

std::vector<breath_report> history(node& n) {
  caf::scoped_actor self{n.system()};
  std::vector<breath_report> out;
  self->request(n.breather(), 5s, history_atom::value)
      .receive([&](std::vector<breath_report>& h) { out = std::move(h); }, [](caf::error&) {});
  return out;
}

/// Waits for a breath after `after` that `pred` accepts; returns it (fails the test otherwise).
breath_report wait_breath(node& n, uint64_t after,
                          const std::function<bool(const breath_report&)>& pred) {
  std::optional<breath_report> found;
  wait_until(
      [&] {
        for (auto& r : history(n))
          if (r.seq > after && pred(r)) {
            found = r;
            return true;
          }
        return false;
      },
      30s);
  if (!found) {
    auto h = history(n);
    CAF_FAIL("no such breath; last: " << (h.empty() ? std::string{"none"} : describe(h.back())));
  }
  CAF_MESSAGE(describe(*found));
  return *found;
}

bool hung(const breath_report& r) {
  return !r.ok && r.failed_step == "fetch" && r.error.find("no answer within") != std::string::npos;
}

/// amsterdam alone, breathing its clone through `remote`.
struct hanging {
  clones repos{{"amsterdam"}};
  remote_switch remote{repos.port};
  cluster c;

  explicit hanging(duration step_timeout, duration handover_timeout)
      : c{profile::test, [&](config& cfg) {
            repos.tweak(duration{300})(cfg);
            cfg.breath.step_timeout = step_timeout;
            cfg.breath.handover_timeout = handover_timeout;
            cfg.breath.backoff_max = duration{600};
          }} {
    must(git(repos.at("amsterdam"), "remote set-url origin git://127.0.0.1:" +
                                        std::to_string(remote.port()) + "/origin.git"));
    c.start("amsterdam");
  }
};

} // namespace

CAF_TEST(a remote that accepts and never answers or stalls mid pack costs one breath) {
  hanging h{duration{1000}, duration{10000}};
  auto& n = h.c.at("amsterdam");
  auto first = wait_breath(n, 0, [](const breath_report& r) { return r.ok; });
  h.remote.set(remote_switch::mode::silent);
  auto silent = wait_breath(n, first.seq, hung);
  // The breather is not stuck: breaths go on, each on a new connection.
  auto again = wait_breath(n, silent.seq, hung);
  h.remote.set(remote_switch::mode::relay);
  auto back = wait_breath(n, again.seq, [](const breath_report& r) { return r.ok; });
  // A commit waits on the remote; the stalled pack never arrives, the next breath gets it.
  auto person = h.repos.clone("person");
  write_file(person / "docs/big.txt", std::string(2000000, 'x') + "\n");
  for (int i = 0; i < 200; ++i)
    write_file(person / ("docs/f" + std::to_string(i) + ".txt"), std::to_string(i * 7919) + "\n");
  must(git(person, "add -A") + " && " + git(person, "commit -q -m more") + " && " +
       git(person, "push -q origin main"));
  h.remote.set(remote_switch::mode::stall);
  auto stalled = wait_breath(n, back.seq, hung);
  h.remote.set(remote_switch::mode::relay);
  auto caught_up = wait_breath(n, stalled.seq, [](const breath_report& r) { return r.ok; });
  CAF_CHECK(wait_until([&] { return fs::exists(h.repos.at("amsterdam") / "docs/big.txt"); }, 10s));
  CAF_CHECK_GREATER(caught_up.seq, stalled.seq);
  CAF_CHECK(!fs::exists(h.repos.at("amsterdam") / ".git/FETCH_HEAD.lock"));
}

CAF_TEST(a node stops within its bound while the remote hangs) {
  // A fetch may take a minute; the hand-over breath of the leave gets 2 s.
  hanging h{duration{60000}, duration{2000}};
  auto& n = h.c.at("amsterdam");
  wait_breath(n, 0, [](const breath_report& r) { return r.ok; });
  // amsterdam runs the duty (the others have not been seen for the grace).
  CAF_REQUIRE(h.c.wait_for_holder("amsterdam", 30s));
  h.remote.set(remote_switch::mode::silent);
  std::this_thread::sleep_for(1s); // a regular breath now hangs in its fetch
  auto started = std::chrono::steady_clock::now();
  n.leave(); // what SIGTERM does: hand the duty over (nobody takes it), breathe, stop
  auto took = std::chrono::steady_clock::now() - started;
  CAF_MESSAGE("leave and stop took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  // The duty's stop (2 s grace at most) plus the 2 s hand-over bound, with room.
  CAF_CHECK(took < 15s);
  CAF_CHECK(h.c.running().empty());
}
