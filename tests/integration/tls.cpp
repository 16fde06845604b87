// The 19333 channel against clients that are not ours, over real sockets on the cluster's private
// 127.x.y.z block: the `openssl s_client` tool (TLS 1.2, no client certificate, a certificate
// outside the registry), a process holding one node's real key that says it is another node,
// plain TCP, random bytes, a half-open handshake and a slow-loris client. And how long a full
// five-node TLS mesh takes to form.
#define CAF_SUITE integration.tls
#include "caf/test/dsl.hpp"

#include "actors/handshake.hpp"
#include "runtime/identity.hpp"
#include "support/cluster.hpp"
#include "support/files.hpp"
#include "support/guard.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace montana;
using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> all_nodes{"amsterdam", "moscow", "almaty", "spb", "novosibirsk"};

std::string random_bytes(size_t n) {
  static std::random_device rd;
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(rd() & 0xff);
  return out;
}

std::string random_nonce() {
  return to_hex(random_bytes(16));
}

/// Everything a test starts or creates. A failed CAF_REQUIRE aborts the binary without running
/// destructors, so requirements go through TLS_REQUIRE, which ends all of it first. It is never
/// used while a scoped_actor lives (an actor system waits for its actors on shutdown).
struct world {
  std::unique_ptr<cluster> c;
  std::string dir;
  std::vector<pid_t> children;
  std::vector<int> sockets;
  std::vector<caf::actor> watchers;
  std::atomic<bool> stop_trickle{false};
  std::vector<std::thread> threads;
  std::unique_ptr<caf::actor_system_config> rogue_cfg;
  std::unique_ptr<caf::actor_system> rogue;

  void end_rogue() {
    rogue.reset();
    rogue_cfg.reset();
  }

  void stop_watchers() {
    for (auto& w : watchers)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
    watchers.clear();
  }

  void close_sockets() {
    stop_trickle = true;
    for (auto& t : threads)
      t.join();
    threads.clear();
    for (auto fd : sockets)
      ::close(fd);
    sockets.clear();
  }

  void teardown() {
    for (auto pid : children) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    children.clear();
    close_sockets();
    stop_watchers();
    end_rogue();
    c.reset(); // stops the nodes, kills their duty processes, removes its directory
    if (!dir.empty()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      dir.clear();
    }
  }
};

world* current = nullptr;

#define TLS_FAIL(msg)                                                                              \
  do {                                                                                             \
    std::ostringstream why_;                                                                       \
    why_ << msg;                                                                                   \
    if (current != nullptr)                                                                        \
      current->teardown();                                                                         \
    CAF_FAIL(why_.str());                                                                          \
  } while (false)

#define TLS_REQUIRE(...)                                                                           \
  do {                                                                                             \
    if (!static_cast<bool>(__VA_ARGS__))                                                           \
      TLS_FAIL("requirement failed: " #__VA_ARGS__);                                               \
  } while (false)

// --- the cluster ---------------------------------------------------------------------------------

/// Each linked node of `n` with the actor system its link leads to, from the gateway's replay
/// of its current links to a new subscriber.
std::map<std::string, caf::node_id> link_ends(node& n) {
  std::map<std::string, caf::node_id> result;
  caf::scoped_actor self{n.system()};
  self->send(n.gateway(), subscribe_atom::value, caf::actor{self});
  for (bool quiet = false; !quiet;)
    self->receive([&](const link_up& x) { result[x.node] = x.gateway.node(); },
                  [&](const link_down& x) { result.erase(x.node); },
                  caf::after(std::chrono::milliseconds{150}) >> [&] { quiet = true; });
  return result;
}

/// Whether `from`'s link to `to` leads to `to`'s own actor system and its gateway answers a ping
/// over it.
bool serves_over_link(node& from, node& to) {
  caf::scoped_actor self{from.system()};
  self->send(from.gateway(), subscribe_atom::value, caf::actor{self});
  caf::actor gateway;
  for (bool quiet = false; !quiet && !gateway;)
    self->receive(
        [&](const link_up& x) {
          if (x.node == to.name())
            gateway = x.gateway;
        },
        [](const link_down&) {},
        caf::after(std::chrono::milliseconds{150}) >> [&] { quiet = true; });
  if (!gateway || gateway.node() != to.system().node())
    return false;
  bool answered = false;
  self->request(gateway, 2s, ping{"test", 42})
      .receive([&](const pong& p) { answered = p.node == to.name() && p.seq == 42; },
               [](caf::error&) {});
  return answered;
}

bool full_mesh(cluster& c, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        for (const auto& n : all_nodes)
          if (!c.at(n).running() || linked_nodes(c.at(n)).size() != all_nodes.size() - 1)
            return false;
        return true;
      },
      timeout);
}

size_t start_records(const cluster& c) {
  auto records = c.records();
  return std::count_if(records.begin(), records.end(),
                       [](const duty_record& r) { return r.what == "start"; });
}

/// Link events a gateway announces from now on, as "up NODE" / "down NODE: reason" lines.
struct event_log {
  std::mutex mutex;
  std::vector<std::string> lines;

  std::vector<std::string> about(const std::string& node) {
    std::lock_guard<std::mutex> guard{mutex};
    std::vector<std::string> out;
    for (const auto& l : lines)
      if (l.starts_with("up " + node) || l.starts_with("down " + node + ":"))
        out.push_back(l);
    return out;
  }

  std::vector<std::string> all() {
    std::lock_guard<std::mutex> guard{mutex};
    return lines;
  }
};

/// Subscribes to `n`'s gateway; the replay of its current links is left out of the log.
std::shared_ptr<event_log> watch(world& w, node& n) {
  auto log = std::make_shared<event_log>();
  auto replay = linked_nodes(n).size();
  auto watcher = n.system().spawn([log, replay](caf::event_based_actor*) -> caf::behavior {
    auto skip = std::make_shared<size_t>(replay);
    return {
        [log, skip](const link_up& x) {
          if (*skip > 0) {
            --*skip;
            return;
          }
          std::lock_guard<std::mutex> guard{log->mutex};
          log->lines.push_back("up " + x.node);
        },
        [log](const link_down& x) {
          std::lock_guard<std::mutex> guard{log->mutex};
          log->lines.push_back("down " + x.node + ": " + x.reason);
        },
    };
  });
  w.watchers.push_back(watcher);
  caf::anon_send(n.gateway(), subscribe_atom::value, watcher);
  return log;
}

// --- openssl s_client ----------------------------------------------------------------------------

/// One `openssl` child: stdin /dev/null, stdout and stderr into one file. Ended by its pid.
class openssl_process {
public:
  openssl_process(world& w, const std::vector<std::string>& args) : w_(w) {
    if (openssl_tool().empty())
      TLS_FAIL("no openssl tool on PATH");
    static int counter = 0;
    out_path_ = w.dir + "/openssl" + std::to_string(++counter) + ".out";
    std::vector<std::string> argv{openssl_tool()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string problem;
    pid_ = spawn_child(std::move(argv), "/dev/null", out_path_, problem);
    if (pid_ < 0)
      TLS_FAIL(problem);
    w.children.push_back(pid_);
  }

  ~openssl_process() { end(); }

  openssl_process(const openssl_process&) = delete;
  openssl_process& operator=(const openssl_process&) = delete;

  /// The exit code if the process ended by itself within `timeout` (-N: killed by signal N).
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    wait_until(
        [&] {
          int status = 0;
          if (!status_ && ::waitpid(pid_, &status, WNOHANG) == pid_) {
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            std::erase(w_.children, pid_);
          }
          return status_.has_value();
        },
        timeout);
    return status_;
  }

  /// SIGKILL by pid (if still running) and reap.
  void end() {
    if (status_ || pid_ <= 0)
      return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    status_ = -SIGKILL;
    std::erase(w_.children, pid_);
  }

  std::string output() const { return read_file(out_path_); }

private:
  world& w_;
  std::string out_path_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// What one s_client run against a node saw.
struct client_result {
  /// Exit code when it ended by itself (the node closed the connection); nullopt when it was
  /// still connected after the wait and had to be killed.
  std::optional<int> code;
  std::string output;
  std::chrono::milliseconds took{0};
};

/// `openssl s_client` against `target`, pinning its certificate and failing on any verification
/// error; it keeps reading after stdin's EOF, so it ends only when the node closes. A node that
/// accepts the client sends its BASP handshake (which names CAF's application identifier)
/// and keeps the connection: the client is then killed after `linger`.
client_result s_client(world& w, const node_entry& target, const std::string& target_cert,
                       std::vector<std::string> extra, std::chrono::milliseconds linger = 5000ms) {
  std::vector<std::string> args{
      "s_client", "-connect",  target.host + ":" + std::to_string(target.port),
      "-CAfile",  target_cert, "-verify_return_error",
      "-brief",   "-ign_eof"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto began = std::chrono::steady_clock::now();
  openssl_process p{w, args};
  client_result r;
  // Done when it ended, or when the node's own bytes have arrived over the session.
  wait_until(
      [&] {
        if (p.wait(0ms))
          return true;
        return contains(p.output(), "generic-caf-app");
      },
      linger);
  r.code = p.wait(0ms);
  p.end();
  r.output = p.output();
  r.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 began);
  return r;
}

/// True when the node sent data over the session: it accepted the client.
bool node_spoke(const client_result& r) {
  return contains(r.output, "generic-caf-app");
}

// --- raw sockets ---------------------------------------------------------------------------------

/// A plain TCP connection to `target`, closed by the world; -1 if the connect failed.
int tcp_connect(world& w, const node_entry& target) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(target.port);
  ::inet_pton(AF_INET, target.host.c_str(), &addr.sin_addr);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  w.sockets.push_back(fd);
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

/// A genuine TLS 1.3 ClientHello (no client certificate), as the first flight of a client
/// built on memory buffers: what a real client would send first.
std::string client_hello() {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free};
  if (!ctx)
    return {};
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl{SSL_new(ctx.get()), &SSL_free};
  auto* in = BIO_new(BIO_s_mem());
  auto* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out); // ssl owns both now
  SSL_set_connect_state(ssl.get());
  SSL_do_handshake(ssl.get()); // wants to read the ServerHello: the ClientHello is in `out`
  char* data = nullptr;
  auto n = BIO_get_mem_data(out, &data);
  std::string hello = n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string{};
  ERR_clear_error();
  return hello;
}

/// A rogue actor system outside the cluster that holds `as`'s real certificate and key and
/// trusts every node's certificate: it completes the TLS handshake with any node.
caf::actor_system& start_rogue(world& w, const std::string& as) {
  auto ids = w.c->dir() + "/identities";
  auto bundle = w.dir + "/rogue-bundle.pem";
  {
    std::ofstream out{bundle};
    for (const auto& n : all_nodes)
      out << read_file(ids + "/" + n + ".crt");
  }
  w.rogue_cfg = std::make_unique<caf::actor_system_config>();
  auto& cfg = *w.rogue_cfg;
  register_messages(cfg);
  cfg.load<caf::io::middleman>();
  const auto& channel = w.c->cfg().channel;
  cfg.set("middleman.heartbeat-interval",
          std::chrono::duration_cast<caf::timespan>(channel.heartbeat_interval));
  cfg.set("middleman.connection-timeout",
          std::chrono::duration_cast<caf::timespan>(channel.connection_timeout));
  cfg.set("scheduler.max-threads", 2);
  cfg.set("openssl.certificate", ids + "/" + as + ".crt");
  cfg.set("openssl.key", ids + "/" + as + ".key");
  cfg.set("openssl.cafile", bundle);
  cfg.load<caf::openssl::manager>();
  w.rogue = std::make_unique<caf::actor_system>(cfg);
  return *w.rogue;
}

/// The outcome of one hello + proof exchange of a stranger with a node's gateway.
struct exchange {
  std::optional<welcome> greeted;
  bool welcome_signed = false; // by the node it dialed, over our nonce
  bool accepted = false;       // the proof got an empty (success) reply
  bool refused = false;        // the proof got an error reply
  std::string error;
};

/// Says hello as `claimed` to `target`'s gateway, then sends the proof `make_signature` makes
/// from the welcome's nonce. The hello names a scoped actor as our gateway: a link the node
/// makes to it ends with this call, so `while_linked` runs before.
template <class MakeSignature>
exchange hello_and_proof(world& w, caf::actor& gateway, const std::string& claimed,
                         const std::string& target, MakeSignature make_signature,
                         const std::function<void()>& while_linked = {}) {
  exchange result;
  auto& sys = *w.rogue;
  caf::scoped_actor self{sys};
  auto nonce = random_nonce();
  self->request(gateway, 3s, hello{claimed, caf::actor{self}, 1, nonce})
      .receive([&](welcome& x) { result.greeted = std::move(x); },
               [&](caf::error& e) { result.error = "hello: " + sys.render(e); });
  if (!result.greeted)
    return result;
  auto target_cert = w.c->dir() + "/identities/" + target + ".crt";
  result.welcome_signed = verify(inspect_certificate(target_cert).public_key,
                                 welcome_text(nonce, target, claimed), result.greeted->signature);
  self->request(gateway, 3s, proof{claimed, make_signature(result.greeted->nonce)})
      .receive([&] { result.accepted = true; },
               [&](caf::error& e) {
                 result.refused = true;
                 result.error = sys.render(e);
               });
  if (while_linked)
    while_linked();
  return result;
}

/// The outcome of an operator_hello + operator_proof exchange with a node's gateway.
struct operator_exchange {
  std::optional<welcome> greeted;
  bool welcome_signed = false;
  caf::actor console;
  std::string error;
};

/// Claims to be operator `claimed` at `target`'s gateway and proves it with `make_signature`.
template <class MakeSignature>
operator_exchange as_operator(world& w, caf::actor& gateway, const std::string& claimed,
                              const std::string& target, MakeSignature make_signature) {
  operator_exchange result;
  auto& sys = *w.rogue;
  caf::scoped_actor self{sys};
  auto nonce = random_nonce();
  self->request(gateway, 3s, operator_hello{claimed, nonce})
      .receive([&](welcome& x) { result.greeted = std::move(x); },
               [&](caf::error& e) { result.error = "hello: " + sys.render(e); });
  if (!result.greeted)
    return result;
  auto target_cert = w.c->dir() + "/identities/" + target + ".crt";
  result.welcome_signed =
      verify(inspect_certificate(target_cert).public_key,
             welcome_text(nonce, target, operator_party(claimed)), result.greeted->signature);
  self->request(gateway, 3s, operator_proof{claimed, make_signature(result.greeted->nonce)})
      .receive([&](caf::actor& console) { result.console = std::move(console); },
               [&](caf::error& e) { result.error = "proof: " + sys.render(e); });
  return result;
}

struct fixture {
  world w;

  fixture() {
    auto tmpl = (fs::temp_directory_path() / "montana-tls-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      CAF_FAIL("mkdtemp failed");
    w.dir = tmpl;
    current = &w;
  }

  ~fixture() {
    w.teardown();
    current = nullptr;
  }

  /// Five nodes over TLS, all started; required: a full mesh and amsterdam holding the duty.
  /// `operators` are registered before the nodes start.
  cluster& start_cluster(const std::vector<std::string>& operators = {}) {
    w.c = std::make_unique<cluster>();
    for (const auto& name : operators)
      w.c->add_operator(name);
    w.c->start_all();
    TLS_REQUIRE(full_mesh(*w.c, 10s));
    TLS_REQUIRE(w.c->wait_for_holder("amsterdam", 15s));
    return *w.c;
  }

  std::string identity(const std::string& file) const { return w.c->dir() + "/identities/" + file; }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(tls_tests, fixture)

CAF_TEST(openssl s_client is refused without TLS 1.3 and a registered certificate) {
  auto& c = start_cluster();
  const auto& moscow = *c.cfg().find_node("moscow");
  auto pinned = identity("moscow.crt");
  auto spb_cert = identity("spb.crt");
  auto spb_key = identity("spb.key");

  // Contrast: a registered node's certificate over TLS 1.3 gets a session and the node's BASP
  // handshake. Without this, the refusals below could be a broken client.
  auto valid = s_client(w, moscow, pinned, {"-tls1_3", "-cert", spb_cert, "-key", spb_key});
  CAF_CHECK(contains(valid.output, "CONNECTION ESTABLISHED"));
  CAF_CHECK(contains(valid.output, "Protocol version: TLSv1.3"));
  CAF_CHECK(node_spoke(valid));
  CAF_CHECK(!valid.code); // still connected when we ended it
  if (!node_spoke(valid))
    CAF_MESSAGE("valid client:\n" << valid.output);

  // TLS 1.2 with the same valid certificate: no session at all.
  auto old = s_client(w, moscow, pinned, {"-tls1_2", "-cert", spb_cert, "-key", spb_key});
  CAF_CHECK(old.code && *old.code != 0);
  CAF_CHECK(!contains(old.output, "CONNECTION ESTABLISHED"));
  CAF_CHECK(!contains(old.output, "TLSv1.2"));
  CAF_CHECK(contains(old.output, "alert protocol version"));
  CAF_CHECK(!node_spoke(old));
  if (!old.code || *old.code == 0 || node_spoke(old))
    CAF_MESSAGE("TLS 1.2 client:\n" << old.output);

  // TLS 1.3 without a client certificate: in TLS 1.3 the client finishes its side before the
  // server checks it, so the refusal is the server's alert and close, never any data.
  auto anonymous = s_client(w, moscow, pinned, {"-tls1_3"});
  CAF_CHECK(anonymous.code && *anonymous.code != 0);
  CAF_CHECK(contains(anonymous.output, "alert certificate required"));
  CAF_CHECK(!node_spoke(anonymous));
  if (!anonymous.code || node_spoke(anonymous))
    CAF_MESSAGE("client without a certificate:\n" << anonymous.output);

  // Self-signed certificates outside the registry: one of ours for a known node name (right
  // format, wrong key) and one made by the openssl tool.
  auto stranger = create_identity("amsterdam", w.dir + "/stranger");
  auto forged =
      s_client(w, moscow, pinned,
               {"-tls1_3", "-cert", stranger.files.cert_path, "-key", stranger.files.key_path});
  CAF_CHECK(forged.code && *forged.code != 0);
  CAF_CHECK(contains(forged.output, "alert unknown ca"));
  CAF_CHECK(!node_spoke(forged));
  if (!forged.code || node_spoke(forged))
    CAF_MESSAGE("client with an unregistered amsterdam certificate:\n" << forged.output);

  {
    openssl_process make{w,
                         {"req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "1", "-subj",
                          "/CN=mallory", "-keyout", w.dir + "/mallory.key", "-out",
                          w.dir + "/mallory.crt"}};
    TLS_REQUIRE(make.wait(10s) == 0);
  }
  auto mallory =
      s_client(w, moscow, pinned,
               {"-tls1_3", "-cert", w.dir + "/mallory.crt", "-key", w.dir + "/mallory.key"});
  CAF_CHECK(mallory.code && *mallory.code != 0);
  CAF_CHECK(contains(mallory.output, "alert unknown ca"));
  CAF_CHECK(!node_spoke(mallory));
  if (!mallory.code || node_spoke(mallory))
    CAF_MESSAGE("client with openssl's self-signed certificate:\n" << mallory.output);

  CAF_MESSAGE("s_client runs took " << valid.took.count() << " (valid, killed), "
                                    << old.took.count() << " (TLS 1.2), " << anonymous.took.count()
                                    << " (no certificate), " << forged.took.count() << " and "
                                    << mallory.took.count() << " ms (self-signed)");
  // None of it disturbed the node.
  CAF_CHECK_EQUAL(linked_nodes(c.at("moscow")).size(), 4u);
  CAF_CHECK(serves_over_link(c.at("amsterdam"), c.at("moscow")));
}

CAF_TEST(the real certificate and key of one node do not let a process pass as another) {
  auto& c = start_cluster();
  auto starts = start_records(c);
  auto moscow_events = watch(w, c.at("moscow"));
  auto novosibirsk_events = watch(w, c.at("novosibirsk"));
  auto& rogue = start_rogue(w, "spb");
  auto spb_key = identity("spb.key");
  auto amsterdam_key = identity("amsterdam.key");

  // spb's certificate gets the rogue through TLS to moscow; it says it is amsterdam and signs
  // the proof with the only key it has, spb's.
  const auto& moscow = *c.cfg().find_node("moscow");
  auto to_moscow = caf::openssl::remote_actor(rogue, moscow.host, moscow.port);
  TLS_REQUIRE(to_moscow);
  auto as_amsterdam = hello_and_proof(w, *to_moscow, "amsterdam", "moscow", [&](auto& nonce) {
    return sign(spb_key, proof_text(nonce, "amsterdam", "moscow"));
  });
  CAF_CHECK(as_amsterdam.greeted.has_value()); // the handshake itself ran
  CAF_CHECK(as_amsterdam.welcome_signed);
  CAF_CHECK(as_amsterdam.refused);
  CAF_CHECK(!as_amsterdam.accepted);
  CAF_MESSAGE("proof as amsterdam with spb's key: " << as_amsterdam.error);

  // A hello naming spb, the certificate's own node, but with a wrong signature, to
  // novosibirsk (a lower node, which takes hellos from spb): spb's key over another nonce
  // (a replay), amsterdam's key over the right text, and no signature at all.
  const auto& novosibirsk = *c.cfg().find_node("novosibirsk");
  auto to_novosibirsk = caf::openssl::remote_actor(rogue, novosibirsk.host, novosibirsk.port);
  TLS_REQUIRE(to_novosibirsk);
  auto replayed = hello_and_proof(w, *to_novosibirsk, "spb", "novosibirsk", [&](auto&) {
    return sign(spb_key, proof_text(random_nonce(), "spb", "novosibirsk"));
  });
  auto other_key = hello_and_proof(w, *to_novosibirsk, "spb", "novosibirsk", [&](auto& nonce) {
    return sign(amsterdam_key, proof_text(nonce, "spb", "novosibirsk"));
  });
  auto garbage = hello_and_proof(w, *to_novosibirsk, "spb", "novosibirsk",
                                 [&](auto&) { return to_hex(random_bytes(64)); });
  for (auto* x : {&replayed, &other_key, &garbage}) {
    CAF_CHECK(x->greeted.has_value());
    CAF_CHECK(x->welcome_signed);
    CAF_CHECK(x->refused);
    CAF_CHECK(!x->accepted);
  }

  // Nothing changed: no link event at all, the real links lead to the real nodes, the duty
  // stayed where it was.
  std::this_thread::sleep_for(500ms);
  CAF_CHECK_EQUAL(moscow_events->all(), std::vector<std::string>{});
  CAF_CHECK_EQUAL(novosibirsk_events->all(), std::vector<std::string>{});
  auto moscow_links = link_ends(c.at("moscow"));
  CAF_CHECK_EQUAL(moscow_links.size(), 4u);
  CAF_CHECK(moscow_links["amsterdam"] == c.at("amsterdam").system().node());
  auto novosibirsk_links = link_ends(c.at("novosibirsk"));
  CAF_CHECK_EQUAL(novosibirsk_links.size(), 4u);
  CAF_CHECK(novosibirsk_links["spb"] == c.at("spb").system().node());
  CAF_CHECK(serves_over_link(c.at("moscow"), c.at("amsterdam")));
  CAF_CHECK(serves_over_link(c.at("novosibirsk"), c.at("spb")));
  CAF_CHECK_EQUAL(c.running(), std::vector<std::string>{"amsterdam"});
  CAF_CHECK_EQUAL(start_records(c), starts);

  // Control: with spb itself gone, the same rogue and the same steps, now with the right
  // signature, are accepted. So the refusals above came from the signatures alone.
  w.stop_watchers();
  c.kill("spb");
  TLS_REQUIRE(wait_until([&] { return linked_nodes(c.at("novosibirsk")).size() == 3; }, 5s));
  caf::node_id linked_to;
  auto honest = hello_and_proof(
      w, *to_novosibirsk, "spb", "novosibirsk",
      [&](auto& nonce) { return sign(spb_key, proof_text(nonce, "spb", "novosibirsk")); },
      [&] { linked_to = link_ends(c.at("novosibirsk"))["spb"]; });
  CAF_CHECK(honest.accepted);
  CAF_CHECK(linked_to == rogue.node());
  if (!honest.accepted)
    CAF_MESSAGE("control proof: " << honest.error);
  to_moscow = caf::actor{};
  to_novosibirsk = caf::actor{};
  w.end_rogue();
  CAF_CHECK(wait_until([&] { return linked_nodes(c.at("novosibirsk")).size() == 3; }, 5s));
  CAF_CHECK_EQUAL(c.running(), std::vector<std::string>{"amsterdam"});
}

CAF_TEST(the certificate and key of a node do not open a shell) {
  auto& c = start_cluster({"alice"});
  auto& rogue = start_rogue(w, "spb");
  auto spb_key = identity("spb.key");
  const auto& amsterdam = *c.cfg().find_node("amsterdam");
  auto gateway = caf::openssl::remote_actor(rogue, amsterdam.host, amsterdam.port);
  TLS_REQUIRE(gateway);
  // spb's identity gets the rogue through TLS, but spb is no operator.
  auto as_spb = as_operator(w, *gateway, "spb", "amsterdam",
                            [&](auto& nonce) { return sign(spb_key, nonce); });
  CAF_CHECK(!as_spb.greeted);
  CAF_CHECK(contains(as_spb.error, "'spb' is no registered operator"));
  // Claiming a real operator's name needs that operator's key.
  auto as_alice = as_operator(w, *gateway, "alice", "amsterdam", [&](auto& nonce) {
    return sign(spb_key, proof_text(nonce, operator_party("alice"), "amsterdam"));
  });
  CAF_CHECK(as_alice.greeted.has_value());
  CAF_CHECK(as_alice.welcome_signed);
  CAF_CHECK(!as_alice.console);
  CAF_CHECK(contains(as_alice.error, "could not prove it is operator alice"));
  // A node's own welcome text does not serve as an operator's proof either.
  auto replay = as_operator(w, *gateway, "alice", "amsterdam", [&](auto& nonce) {
    return sign(identity("alice.key"), proof_text(nonce, "alice", "amsterdam"));
  });
  CAF_CHECK(!replay.console);
  // Control: with alice's key the same steps open a console.
  auto honest = as_operator(w, *gateway, "alice", "amsterdam", [&](auto& nonce) {
    return sign(identity("alice.key"), proof_text(nonce, operator_party("alice"), "amsterdam"));
  });
  CAF_CHECK(static_cast<bool>(honest.console));
  if (!honest.console)
    CAF_MESSAGE("control: " << honest.error);
  uint64_t refused = 0;
  {
    caf::scoped_actor self{c.at("amsterdam").system()};
    self->request(c.at("amsterdam").inspector(), 3s, status_atom::value)
        .receive([&](const node_status& s) { refused = s.operator_refusals; }, [](caf::error&) {});
  }
  CAF_CHECK_EQUAL(refused, 3u);
  honest.console = caf::actor{};
  gateway = caf::actor{};
  w.end_rogue();
  CAF_CHECK_EQUAL(c.running(), std::vector<std::string>{"amsterdam"});
}

CAF_TEST(garbage and half open handshakes and slow clients cost a node nothing) {
  auto& c = start_cluster();
  auto starts = start_records(c);
  const auto& spb = *c.cfg().find_node("spb");
  auto spb_events = watch(w, c.at("spb"));
  auto hello = client_hello();
  TLS_REQUIRE(hello.size() > 100 && hello[0] == '\x16');

  // Plain TCP: connections that say nothing, held open, and one closed at once.
  for (int i = 0; i < 16; ++i)
    CAF_CHECK_GREATER_OR_EQUAL(tcp_connect(w, spb), 0);
  if (auto fd = tcp_connect(w, spb); fd >= 0)
    ::shutdown(fd, SHUT_RDWR);
  // Random bytes: a burst on a closed connection, a smaller one on a held one, plain text.
  for (size_t size : {size_t{65536}, size_t{4096}}) {
    auto fd = tcp_connect(w, spb);
    CAF_CHECK_GREATER_OR_EQUAL(fd, 0);
    send_all(fd, random_bytes(size)); // the node may close on the first bad record
    if (size > 4096)
      ::shutdown(fd, SHUT_RDWR);
  }
  CAF_CHECK(send_all(tcp_connect(w, spb), "GET / HTTP/1.1\r\nHost: spb\r\n\r\n"));
  // Half-open handshakes: half a ClientHello, and a whole one never followed by anything.
  CAF_CHECK(send_all(tcp_connect(w, spb), hello.substr(0, hello.size() / 2)));
  CAF_CHECK(send_all(tcp_connect(w, spb), hello));
  // Slow loris: a TLS record announced as 16 KiB, then one byte every 30 ms.
  auto loris = tcp_connect(w, spb);
  CAF_CHECK_GREATER_OR_EQUAL(loris, 0);
  auto trickled = std::make_shared<std::atomic<size_t>>(0);
  w.threads.emplace_back([&stop = w.stop_trickle, loris, trickled] {
    auto bytes = std::string{"\x16\x03\x01\x40\x00\x01", 6} + random_bytes(16378);
    for (auto byte : bytes) {
      if (stop || ::send(loris, &byte, 1, MSG_NOSIGNAL) != 1)
        return;
      ++*trickled;
      std::this_thread::sleep_for(30ms);
    }
  });

  // Meanwhile a lower node dies and comes back; it dials spb, the node under attack.
  std::this_thread::sleep_for(300ms);
  c.kill("almaty");
  TLS_REQUIRE(wait_until([&] { return linked_nodes(c.at("spb")).size() == 3; }, 5s));
  c.start("almaty");
  auto started = std::chrono::steady_clock::now();
  CAF_CHECK(full_mesh(c, 10s));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  // Still under attack for longer than the heartbeat's connection timeout: a stalled
  // multiplexer would now cost spb its links.
  std::this_thread::sleep_for(c.cfg().channel.connection_timeout * 3 / 2);
  CAF_MESSAGE("almaty restarted and re-linked to all four in "
              << took.count() << " ms while spb was under attack; the slow loris sent "
              << trickled->load() << " bytes so far");
  CAF_CHECK_GREATER(trickled->load(), 10u);

  // spb lost and regained almaty's link and nothing else; it still serves over its links.
  for (const auto& n : {"amsterdam", "moscow", "novosibirsk"})
    CAF_CHECK_EQUAL(spb_events->about(n), std::vector<std::string>{});
  auto almaty = spb_events->about("almaty");
  CAF_CHECK_EQUAL(almaty.size(), 2u);
  CAF_CHECK(!almaty.empty() && almaty.front().starts_with("down almaty"));
  CAF_CHECK(!almaty.empty() && almaty.back() == "up almaty");
  auto spb_links = link_ends(c.at("spb"));
  CAF_CHECK_EQUAL(spb_links.size(), 4u);
  for (const auto& n : all_nodes)
    if (n != "spb")
      CAF_CHECK(spb_links[n] == c.at(n).system().node());
  for (const auto& n : {"amsterdam", "almaty", "novosibirsk"})
    CAF_CHECK(serves_over_link(c.at(n), c.at("spb")));
  // The duty never moved.
  CAF_CHECK_EQUAL(c.running(), std::vector<std::string>{"amsterdam"});
  CAF_CHECK_EQUAL(start_records(c), starts);
  w.close_sockets();
  CAF_CHECK(serves_over_link(c.at("moscow"), c.at("spb")));
}

CAF_TEST(five nodes form a full TLS mesh) {
  w.c = std::make_unique<cluster>();
  auto& c = *w.c;
  auto started = std::chrono::steady_clock::now();
  c.start_all();
  auto meshed = full_mesh(c, 10s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  CAF_CHECK(meshed);
  CAF_MESSAGE("five-node TLS mesh (20 proven link ends) formed in " << took.count() << " ms");
  // Each link end leads to the actor system of the node it is named after.
  for (const auto& n : all_nodes) {
    auto ends = link_ends(c.at(n));
    CAF_CHECK_EQUAL(ends.size(), 4u);
    for (const auto& [peer, sys] : ends)
      CAF_CHECK(sys == c.at(peer).system().node());
  }
  CAF_CHECK(c.wait_for_holder("amsterdam", 15s));
}

CAF_TEST_FIXTURE_SCOPE_END()
