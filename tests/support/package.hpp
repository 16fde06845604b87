// The Debian package of this build directory, built by cpack for the deploy.* suites.
#pragma once

#include "support/files.hpp"
#include "support/guard.hpp"
#include "support/process.hpp"

#include <chrono>
#include <filesystem>
#include <string>

namespace montana::testing {

/// Builds the package into `dir`/cpack and returns its path; "" (with `why` set) when this
/// machine cannot build one (no dpkg-deb or dpkg-shlibdeps). A failing cpack fails the test.
inline std::string build_package(const std::string& dir, std::string& why) {
  if (find_tool("dpkg-deb").empty() || find_tool("dpkg-shlibdeps").empty()) {
    why = "no dpkg-deb or dpkg-shlibdeps here (Debian packages dpkg, dpkg-dev; "
          "deploy/install-deps.sh)";
    return "";
  }
  auto out = dir + "/cpack.out";
  auto code = run_tool({MONTANA_CPACK, "-G", "DEB", "--config",
                        MONTANA_BUILD_DIR "/CPackConfig.cmake", "-B", dir + "/cpack"},
                       out, std::chrono::seconds{120});
  if (code != 0)
    GUARD_FAIL("cpack failed with " << code << ":\n" << read_file(out));
  // montana-actors_<version>-1_<architecture>.deb
  for (const auto& entry : std::filesystem::directory_iterator{dir + "/cpack"})
    if (auto name = entry.path().filename().string();
        name.starts_with("montana-actors_" MONTANA_VERSION "-1_") && name.ends_with(".deb"))
      return entry.path().string();
  GUARD_FAIL("cpack made no montana-actors_" MONTANA_VERSION "-1_*.deb:\n" << read_file(out));
}

} // namespace montana::testing
