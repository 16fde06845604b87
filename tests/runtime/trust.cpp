#define CAF_SUITE runtime.trust
#include "caf/test/dsl.hpp"

#include "runtime/identity.hpp"
#include "runtime/registry.hpp"
#include "runtime/trust.hpp"
#include "support/guard.hpp"
#include "support/log_capture.hpp"

#include <filesystem>
#include <fstream>
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

CAF_TEST(the bundle holds every registered node certificate) {
  trust t{cfg, "alpha"};
  auto bundle = dir + "/bundle.pem";
  t.write_bundle(bundle);
  auto text = read_all(bundle);
  for (const auto& node : {"alpha", "beta", "gamma"})
    CAF_CHECK(text.find(read_all(cert(node))) != std::string::npos);
}

CAF_TEST(signatures verify only against the signer registered name) {
  trust alpha{cfg, "alpha"};
  trust beta{cfg, "beta"};
  auto signature = alpha.sign("montana proof 1234 from alpha to beta");
  CAF_CHECK(beta.verify("alpha", "montana proof 1234 from alpha to beta", signature));
  CAF_CHECK(!beta.verify("gamma", "montana proof 1234 from alpha to beta", signature));
  CAF_CHECK(!beta.verify("alpha", "montana proof 1235 from alpha to beta", signature));
  CAF_CHECK(!beta.verify("nosuch", "montana proof 1234 from alpha to beta", signature));
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

CAF_TEST(an unregistered certificate is left out of the bundle with a warning) {
  trust t{cfg, "alpha"};
  rotate("gamma", false);
  log_capture captured;
  auto bundle = dir + "/bundle.pem";
  t.write_bundle(bundle);
  CAF_CHECK(read_all(bundle).find(read_all(cert("gamma"))) == std::string::npos);
  CAF_CHECK(read_all(bundle).find(read_all(cert("beta"))) != std::string::npos);
  auto warnings = captured.lines("warning");
  CAF_REQUIRE_EQUAL(warnings.size(), 1u);
  CAF_CHECK(warnings[0].find("gamma cannot link") != std::string::npos);
}

CAF_TEST(refresh picks up a rotated and registered certificate) {
  trust t{cfg, "alpha"};
  auto bundle = dir + "/bundle.pem";
  t.write_bundle(bundle);
  rotate("beta", true);
  auto fresh = read_all(cert("beta"));
  CAF_CHECK(read_all(bundle).find(fresh) == std::string::npos);
  t.refresh();
  CAF_CHECK(read_all(bundle).find(fresh) != std::string::npos);
  trust beta{cfg, "beta"};
  CAF_CHECK(t.verify("beta", "x", beta.sign("x")));
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
