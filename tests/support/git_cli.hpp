// The git CLI for tests and benchmarks, run with a fixed identity and branch name, independent
// of the user's configuration, and plain file helpers. No CAF test macros in here.
#pragma once

#include "support/files.hpp"

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/wait.h>

namespace montana::testing {

namespace fs = std::filesystem;

/// The git CLI with a fixed identity and branch name, independent of the user's config.
inline const std::string git_cli = "GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git -c user.name=t "
                                   "-c user.email=t@x -c init.defaultBranch=main ";

/// Output and exit status of a shell command (stderr folded into the output).
struct run_result {
  std::string out;
  int status = -1;
};

inline run_result run(const std::string& command) {
  run_result result;
  auto* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe)
    return result;
  std::array<char, 4096> buffer;
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  auto status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

/// A git CLI command line run inside `clone`.
inline std::string git(const fs::path& clone, const std::string& args) {
  return git_cli + "-C " + clone.string() + " " + args;
}

} // namespace montana::testing
