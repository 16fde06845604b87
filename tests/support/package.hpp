// The Debian package of this build directory, built by cpack for the deploy.* suites.
#pragma once

#include "support/files.hpp"
#include "support/guard.hpp"
#include "support/process.hpp"

#include <chrono>
#include <filesystem>
#include <string>

namespace montana::testing {

/// Builds the package, Debian revision `release`, into `dir`/cpack-`release` and returns its
/// path; "" (with `why` set) when this machine cannot build one (no dpkg-deb or dpkg-shlibdeps).
/// A failing cpack fails the test. A higher `release` is an upgrade of the same build to dpkg.
inline std::string build_package(const std::string& dir, std::string& why, int release = 1) {
  if (find_tool("dpkg-deb").empty() || find_tool("dpkg-shlibdeps").empty()) {
    why = "no dpkg-deb or dpkg-shlibdeps here (Debian packages dpkg, dpkg-dev; "
          "deploy/install-deps.sh)";
    return "";
  }
  auto revision = std::to_string(release);
  auto into = dir + "/cpack-" + revision;
  auto out = into + ".out";
  auto code =
      run_tool({MONTANA_CPACK, "-G", "DEB", "--config", MONTANA_BUILD_DIR "/CPackConfig.cmake",
                "-B", into, "-D", "CPACK_DEBIAN_PACKAGE_RELEASE=" + revision},
               out, std::chrono::seconds{120});
  if (code != 0)
    GUARD_FAIL("cpack failed with " << code << ":\n" << read_file(out));
  // montana-actors_<version>-<release>_<architecture>.deb
  auto prefix = "montana-actors_" MONTANA_VERSION "-" + revision + "_";
  for (const auto& entry : std::filesystem::directory_iterator{into})
    if (auto name = entry.path().filename().string();
        name.starts_with(prefix) && name.ends_with(".deb"))
      return entry.path().string();
  GUARD_FAIL("cpack made no " << prefix << "*.deb:\n" << read_file(out));
}

} // namespace montana::testing
