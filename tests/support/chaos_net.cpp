// montana-chaos-net: the clean-up side of the chaos suites' test networks (support/netns.hpp).
//
//   montana-chaos-net guard PREFIX [DIR]
//                                    waits while the run PREFIX's owner lives, then removes the
//                                    run's namespaces, every process in them and DIR; ends
//                                    when they are gone without it
//   montana-chaos-net sweep          removes the namespaces of every run whose owner is gone
#include "support/netns.hpp"

#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace montana::testing;

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "sweep" && argc == 2) {
    for (const auto& ns : sweep_stale_namespaces())
      std::printf("removed %s\n", ns.c_str());
    return 0;
  }
  if (mode == "guard" && (argc == 3 || argc == 4)) {
    std::string prefix = argv[2];
    // The owner makes its namespaces after starting the guard: give it time to make the first.
    for (int waited = 0;; ++waited) {
      auto left = namespaces_with_prefix(prefix + "-");
      if (!prefix_owner_alive(prefix)) {
        for (const auto& ns : left)
          remove_namespace(ns);
        if (argc == 4) {
          std::error_code ec;
          std::filesystem::remove_all(argv[3], ec);
        }
        return 0;
      }
      if (left.empty() && waited > 200)
        return 0;
      ::usleep(250000);
    }
  }
  std::fprintf(stderr, "usage: montana-chaos-net guard PREFIX [DIR] | montana-chaos-net sweep\n");
  return 2;
}
