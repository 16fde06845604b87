// The Debian package as built by `cpack -G DEB` from this build directory: its files, control
// data and maintainer scripts (dpkg-deb), the extracted binary, and install, upgrade, remove and
// purge with the real dpkg in a throw-away copy of this machine (tests/deploy/dpkg_sandbox.sh).
#define CAF_SUITE deploy.package
#include "caf/test/dsl.hpp"

#include "support/guard.hpp"
#include "support/package.hpp"
#include "support/process.hpp"

#include <filesystem>
#include <sys/stat.h>

using namespace montana::testing;
using namespace std::chrono_literals;

namespace {

struct fixture : scratch {
  std::string dpkg_deb = find_tool("dpkg-deb");

  fixture() : scratch{"package"} {}

  /// Builds the package into the temporary directory and returns its path; "" (with a message)
  /// when this machine cannot build or read one.
  std::string build() {
    std::string why;
    auto deb = build_package(dir, why);
    if (deb.empty())
      CAF_MESSAGE("skipped: " << why);
    return deb;
  }

  /// stdout and stderr of a tool that must succeed.
  std::string output_of(const std::vector<std::string>& args) {
    auto out = dir + "/tool.out";
    auto code = run_tool(args, out, 120s);
    if (code != 0)
      GUARD_FAIL(args[0] << " " << args[1] << " exited with " << code << ":\n" << read_file(out));
    return read_file(out);
  }
};

/// `ls -l`-like line of `path` in `listing` (dpkg-deb -c): "-rwxr-xr-x root/root ... ./usr/bin/x".
std::string entry_of(const std::string& listing, const std::string& path) {
  std::istringstream in{listing};
  for (std::string line; std::getline(in, line);)
    if (line.size() > path.size() + 1 && line.ends_with(" ." + path))
      return line;
  return "";
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(package_tests, fixture)

CAF_TEST(the package holds the binary unit config docs and maintainer scripts) {
  auto deb = build();
  if (deb.empty())
    return;
  auto files = output_of({dpkg_deb, "-c", deb});
  const std::pair<std::string, std::string> expected[] = {
      {"/usr/bin/montana-actors", "-rwxr-xr-x root/root"},
      {"/lib/systemd/system/montana-actors.service", "-rw-r--r-- root/root"},
      {"/etc/montana/montana.toml", "-rw-r--r-- root/root"},
      {"/usr/share/montana-actors/montana.env.example", "-rw-r--r-- root/root"},
      {"/usr/share/doc/montana-actors/README.md", "-rw-r--r-- root/root"},
      {"/usr/share/doc/montana-actors/operations.md", "-rw-r--r-- root/root"},
      {"/usr/share/montana-actors/monitoring/montana-alerts.yml", "-rw-r--r-- root/root"},
      {"/usr/share/montana-actors/monitoring/montana-dashboard.json", "-rw-r--r-- root/root"},
  };
  for (const auto& [path, mode] : expected) {
    auto entry = entry_of(files, path);
    CAF_CHECK(entry.starts_with(mode));
    if (!entry.starts_with(mode))
      CAF_MESSAGE(path << ": '" << entry << "'");
  }
  auto info = output_of({dpkg_deb, "-I", deb});
  CAF_CHECK(contains(info, "Package: montana-actors\n"));
  CAF_CHECK(contains(info, "Version: " MONTANA_VERSION "-1\n"));
  // dpkg-shlibdeps found the libraries' packages; adduser is for postinst, procps (/bin/kill) for
  // the unit's ExecReload.
  auto depends = info.find("\n Depends: ");
  GUARD_REQUIRE(depends != std::string::npos);
  auto depends_line = info.substr(depends + 1, info.find('\n', depends + 1) - depends - 1);
  for (std::string dependency :
       {"adduser", "procps", "libcaf-core", "libssl3", "libsystemd0", "libspdlog", "libfmt",
        "libtomlplusplus", "libboost-filesystem", "libgit2", "libedit"}) {
    CAF_CHECK(contains(depends_line, dependency));
    if (!contains(depends_line, dependency))
      CAF_MESSAGE(dependency << " missing from" << depends_line);
  }
  // No part of CAF that would listen to the network.
  CAF_CHECK(!contains(depends_line, "libcaf-io"));

  auto control = dir + "/control";
  output_of({dpkg_deb, "-e", deb, control});
  CAF_CHECK_EQUAL(read_file(control + "/conffiles"), "/etc/montana/montana.toml\n");
  for (std::string script : {"preinst", "postinst", "prerm", "postrm"}) {
    struct stat st {};
    CAF_CHECK(::stat((control + "/" + script).c_str(), &st) == 0 && (st.st_mode & 0777) == 0755);
  }

  // The extracted files work as they are: the binary runs and accepts the shipped config.
  auto root = dir + "/root";
  output_of({dpkg_deb, "-x", deb, root});
  CAF_CHECK_EQUAL(output_of({root + "/usr/bin/montana-actors", "--version"}),
                  "montana-actors " MONTANA_VERSION "\n");
  auto config = root + "/etc/montana/montana.toml";
  CAF_CHECK_EQUAL(output_of({root + "/usr/bin/montana-actors", "check-config", config}),
                  config +
                      ": ok: 5 nodes (amsterdam, moscow, almaty, spb, novosibirsk), 1 duties\n");
}

CAF_TEST(dpkg installs upgrades removes and purges it keeping what the admin made) {
  auto unshare = find_tool("unshare");
  if (::geteuid() != 0 || unshare.empty() || find_tool("adduser").empty() ||
      run_tool({unshare, "--mount", "true"}, dir + "/unshare.out") != 0) {
    CAF_MESSAGE("skipped: the dpkg sandbox needs root, adduser and a private mount namespace");
    return;
  }
  auto deb = build();
  if (deb.empty())
    return;
  auto report = output_of({MONTANA_SOURCE_DIR "/tests/deploy/dpkg_sandbox.sh", deb});
  const char* expected[] = {
      "install: user montana system /var/lib/montana /usr/sbin/nologin",
      "install: /usr/bin/montana-actors root root 755",
      "install: /lib/systemd/system/montana-actors.service root root 644",
      "install: /etc/montana/montana.toml root root 644",
      // Secrets: readable by root alone (systemd reads it before dropping to montana).
      "install: /etc/montana/montana.env root root 600",
      "install: /etc/montana/identity montana montana 700",
      "install: /var/lib/montana montana montana 750",
      "install: enabled",
      // An upgrade keeps every edit and every file the admin made.
      "upgrade: montana.toml keeps the admin's edit",
      "upgrade: montana.env keeps the admin's node name",
      "upgrade: /etc/montana/identity/moscow.key montana montana 600",
      "upgrade: /var/lib/montana/repo montana montana 750",
      "upgrade: enabled",
      // remove: the program goes, configuration, identity and state stay.
      "remove: /usr/bin/montana-actors missing",
      "remove: /lib/systemd/system/montana-actors.service missing",
      "remove: montana.toml keeps the admin's edit",
      "remove: montana.env keeps the admin's node name",
      "remove: /etc/montana/identity/moscow.key montana montana 600",
      // purge: configuration and secrets go; the key, the state and the user stay.
      "purge: /etc/montana/montana.toml missing",
      "purge: /etc/montana/montana.env missing",
      "purge: /etc/montana/identity/moscow.key montana montana 600",
      "purge: /var/lib/montana/repo montana montana 750",
      "purge: user montana system /var/lib/montana /usr/sbin/nologin",
      "purge: not enabled",
  };
  bool all = true;
  for (const char* line : expected) {
    auto found = contains(report, std::string{line} + "\n");
    CAF_CHECK(found);
    all = all && found;
    if (!found)
      CAF_MESSAGE("missing: " << line);
  }
  if (!all)
    CAF_MESSAGE("report:\n" << report);
}

CAF_TEST_FIXTURE_SCOPE_END()
