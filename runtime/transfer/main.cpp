// montana-git-transfer: one fetch or push of a clone, run by runtime/git_transfer in a child
// process that it kills at its deadline. Usage (not for people):
//   montana-git-transfer fetch|push REPO REMOTE BRANCH PARENT_PID
// with the credential settings on stdin, one per line (ssh_key, ssh_user, token_file,
// token_env, token_user). Prints one line: "ok", "non-fast-forward" or "error <reason>".
#include "runtime/git_repo.hpp"

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 6) {
    std::puts("error usage: montana-git-transfer fetch|push REPO REMOTE BRANCH PARENT_PID");
    return 2;
  }
  // Ends with the service, even a killed one.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (std::to_string(::getppid()) != argv[5])
    return 3;
  const std::string verb = argv[1];
  montana::breath_credentials credentials;
  for (auto* field : {&credentials.ssh_key, &credentials.ssh_user, &credentials.token_file,
                      &credentials.token_env, &credentials.token_user})
    std::getline(std::cin, *field);
  try {
    auto repo = montana::git_repo::open(argv[2], credentials);
    if (verb == "fetch") {
      repo.fetch(argv[3], argv[4]);
      std::puts("ok");
    } else if (verb == "push") {
      std::puts(repo.push(argv[3], argv[4]) ? "ok" : "non-fast-forward");
    } else {
      std::puts(("error unknown transfer " + verb).c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::puts((std::string{"error "} + e.what()).c_str());
    return 1;
  }
  return 0;
}
