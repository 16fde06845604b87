#include "runtime/cli.hpp"

int main(int argc, char** argv) {
  return montana::run_cli(argc, argv);
}
