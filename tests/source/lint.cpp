// The tree itself: every C++ file is formatted as .clang-format says, every shell script is
// shellcheck clean, and every Python script (the test helpers) parses. The tools come from
// deploy/install-deps.sh; a machine without one fails the check that needs it (a lint that cannot
// run has not passed).
#define CAF_SUITE source.lint
#include "caf/test/dsl.hpp"

#include "support/guard.hpp"
#include "support/process.hpp"

#include <algorithm>
#include <filesystem>
#include <regex>

using namespace montana::testing;

namespace {

namespace fs = std::filesystem;

/// Every regular file under the source tree's `folders`, in a stable order.
std::vector<fs::path> files_under(std::initializer_list<const char*> folders) {
  std::vector<fs::path> out;
  for (const auto* folder : folders)
    for (const auto& entry :
         fs::recursive_directory_iterator{MONTANA_SOURCE_DIR + std::string{folder}})
      if (entry.is_regular_file())
        out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Runs `tool` with `args` then `files`; checks that it exits 0, else prints what it said.
void check_clean(const scratch& s, const std::string& tool, std::vector<std::string> args,
                 const std::vector<fs::path>& files) {
  args.insert(args.begin(), tool);
  for (const auto& f : files)
    args.push_back(f.string());
  auto out = s.path("lint.out");
  auto code = run_tool(args, out);
  CAF_CHECK_EQUAL(code, 0);
  if (code != 0)
    CAF_MESSAGE(read_file(out));
}

struct fixture : scratch {
  fixture() : scratch{"lint"} {}
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(lint_tests, fixture)

CAF_TEST(every C++ file is clang - formatted) {
  auto tool = find_tool("clang-format");
  if (tool.empty()) {
    CAF_ERROR("no clang-format on PATH: install the Debian package clang-format "
              "(deploy/install-deps.sh)");
    return;
  }
  std::vector<fs::path> sources;
  for (const auto& f : files_under({"/actors", "/messages", "/runtime", "/tests"}))
    if (f.extension() == ".cpp" || f.extension() == ".hpp")
      sources.push_back(f);
  CAF_MESSAGE(sources.size() << " files");
  GUARD_REQUIRE(sources.size() > 100);
  check_clean(*this, tool, {"--dry-run", "--Werror"}, sources);
}

CAF_TEST(every shell script is shellcheck clean) {
  auto tool = find_tool("shellcheck");
  if (tool.empty()) {
    CAF_ERROR("no shellcheck on PATH: install the Debian package shellcheck "
              "(deploy/install-deps.sh)");
    return;
  }
  std::vector<fs::path> scripts;
  for (const auto& f : files_under({"/deploy", "/tests", "/.ci"})) {
    auto first = read_file(f).substr(0, 64);
    if (first.starts_with("#!") &&
        std::regex_search(first.substr(0, first.find('\n')), std::regex{"[/ ](ba)?sh$"}))
      scripts.push_back(f);
  }
  CAF_MESSAGE(scripts.size() << " scripts");
  GUARD_REQUIRE(scripts.size() > 5);
  check_clean(*this, tool, {}, scripts);
}

CAF_TEST(every Python script parses) {
  auto python = find_tool("python3");
  if (python.empty()) {
    CAF_ERROR("no python3 on PATH: install the Debian package python3 (deploy/install-deps.sh)");
    return;
  }
  std::vector<fs::path> scripts;
  for (const auto& f : files_under({"/deploy", "/tests", "/.ci"}))
    if (f.extension() == ".py")
      scripts.push_back(f);
  CAF_MESSAGE(scripts.size() << " scripts");
  GUARD_REQUIRE(!scripts.empty());
  // Parsed, not compiled: nothing is written next to the sources.
  check_clean(*this, python,
              {"-c", "import ast, sys\nfor f in sys.argv[1:]:\n    ast.parse(open(f).read(), f)"},
              scripts);
}

CAF_TEST_FIXTURE_SCOPE_END()
