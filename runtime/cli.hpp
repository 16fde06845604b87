// Command-line entry: `montana-actors run|demo|check-config`, --help, --version.
#pragma once

namespace montana {

/// Parses argv and runs the chosen command; returns the process exit code.
int run_cli(int argc, char** argv);

} // namespace montana
