#define CAF_SUITE runtime.trust
#include "caf/test/dsl.hpp"

#include "runtime/identity.hpp"
#include "runtime/registry.hpp"
#include "runtime/trust.hpp"
#include "support/guard.hpp"
#include "support/log_capture.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

using namespace montana;
using montana::testing::log_capture;
using montana::testing::scratch;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The certificate in `path`.
std::unique_ptr<X509, decltype(&X509_free)> load(const std::string& path) {
  auto* file = std::fopen(path.c_str(), "r");
  CAF_REQUIRE(file != nullptr);
  auto* cert = PEM_read_X509(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  CAF_REQUIRE(cert != nullptr);
  return {cert, &X509_free};
}

/// Three nodes with fresh identities in a temp dir.
struct fixture : scratch {
  config cfg;

  fixture() : scratch{"trust"} {
    cfg = parse_config("[[cluster.nodes]]\nname = \"alpha\"\nhost = \"127.0.0.1\"\n"
                       "[[cluster.nodes]]\nname = \"beta\"\nhost = \"127.0.0.2\"\n"
                       "[[cluster.nodes]]\nname = \"gamma\"\nhost = \"127.0.0.3\"\n"
                       "[duty.bot]\ncommand = \"true\"\n",
                       "test.toml");
    create_cluster_identities(cfg, dir);
  }

  std::string cert(const std::string& node) const { return dir + "/" + node + ".crt"; }

  /// Gives `node` a new key pair and certificate; `register_it` also updates the registry.
  void rotate(const std::string& node, bool register_it, int days = default_certificate_days) {
    std::filesystem::remove(dir + "/" + node + ".key");
    std::filesystem::remove(cert(node));
    auto info = create_identity(node, dir, days);
    if (register_it)
      register_identity(cfg.tls.registry, info.files.cert_path, cfg, node);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(trust_tests, fixture)

CAF_TEST(registered node certificates identify their node) {
  trust t{cfg, "alpha"};
  for (const auto* node : {"alpha", "beta", "gamma"}) {
    std::string problem;
    CAF_CHECK_EQUAL(t.identify(*load(cert(node)), problem), node);
    CAF_CHECK(problem.empty());
  }
}

CAF_TEST(a node whose registry entry pins another key refuses to start) {
  rotate("alpha", false);
  try {
    trust t{cfg, "alpha"};
    CAF_FAIL("started with a key the registry does not pin");
  } catch (const identity_error& e) {
    std::string what = e.what();
    CAF_CHECK(what.find(cfg.tls.registry) != std::string::npos);
    CAF_CHECK(what.find("another key") != std::string::npos);
    CAF_CHECK(what.find('\n') == std::string::npos);
  }
}

CAF_TEST(a missing key file refuses the start and names the file) {
  std::filesystem::remove(dir + "/beta.key");
  try {
    trust t{cfg, "beta"};
    CAF_FAIL("started without a key");
  } catch (const identity_error& e) {
    CAF_CHECK(std::string{e.what()}.find(dir + "/beta.key") != std::string::npos);
  }
}

CAF_TEST(an unregistered key or a certificate naming another node identifies nobody) {
  trust t{cfg, "alpha"};
  rotate("gamma", false);
  std::string problem;
  CAF_CHECK_EQUAL(t.identify(*load(cert("gamma")), problem), "");
  CAF_CHECK(problem.find("is not in the registry") != std::string::npos);
}

CAF_TEST(a certificate that names another node than its key is registered for is refused) {
  // A key registered for beta, in a certificate that says it is gamma.
  auto forged = create_identity("gamma", dir + "/forged");
  auto registry = registry::load(cfg.tls.registry);
  auto entry = entry_for(forged, cfg);
  entry.node_name = "beta";
  entry.alias = node_alias("beta");
  entry.ip = "127.0.0.2";
  entry.priority = 2;
  registry.upsert(entry);
  registry.save(cfg.tls.registry);
  trust t{cfg, "alpha"};
  std::string problem;
  CAF_CHECK_EQUAL(t.identify(*load(forged.files.cert_path), problem), "");
  CAF_CHECK(problem.find("names gamma but carries the key registered for beta") !=
            std::string::npos);
}

CAF_TEST(refresh picks up a rotated and registered certificate) {
  trust t{cfg, "alpha"};
  rotate("beta", true);
  std::string problem;
  CAF_CHECK_EQUAL(t.identify(*load(cert("beta")), problem), "");
  t.refresh();
  problem.clear();
  CAF_CHECK_EQUAL(t.identify(*load(cert("beta")), problem), "beta");
  // Its own rotated identity is picked up for the next connections too.
  auto before = t.own().generation;
  rotate("alpha", true);
  t.refresh();
  CAF_CHECK_EQUAL(t.own().generation, before + 1);
  CAF_CHECK_EQUAL(t.own().certificate_pem, read_all(cert("alpha")));
}

CAF_TEST(an expired certificate identifies nobody) {
  auto old = create_identity("beta", dir + "/old", -1);
  auto registry = registry::load(cfg.tls.registry);
  auto entry = entry_for(old, cfg);
  registry.upsert(entry);
  registry.save(cfg.tls.registry);
  trust t{cfg, "alpha"};
  std::string problem;
  CAF_CHECK_EQUAL(t.identify(*load(old.files.cert_path), problem), "");
  CAF_CHECK(problem.find("expired") != std::string::npos);
}

CAF_TEST(a certificate that expires within 30 days is warned about) {
  rotate("beta", true, 10);
  log_capture captured;
  trust t{cfg, "beta"};
  auto warnings = captured.lines("warning");
  CAF_REQUIRE_EQUAL(warnings.size(), 1u);
  CAF_CHECK(warnings[0].find("certificate of beta expires in") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
