#include "runtime/cli.hpp"

#include <cstdio>

namespace montana {

int run_cli(int, char**) {
  std::puts("montana-actors " MONTANA_VERSION);
  return 0;
}

} // namespace montana
