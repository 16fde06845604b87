#include "runtime/git_credentials.hpp"

#include <git2.h>

#include <cstdlib>
#include <fstream>
#include <unistd.h>

namespace montana {

credential_picker::credential_picker(breath_credentials settings)
    : settings_{std::move(settings)} {}

std::optional<credential> credential_picker::refuse(std::string why) {
  refusal_ = std::move(why);
  return std::nullopt;
}

std::optional<credential> credential_picker::pick(const std::string& user_in_url,
                                                  unsigned allowed) {
  const auto& s = settings_;
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !s.ssh_key.empty()) {
    if (offered_key_)
      return refuse("the remote refused ssh key " + s.ssh_key);
    offered_key_ = true;
    if (::access(s.ssh_key.c_str(), R_OK) != 0)
      return refuse("cannot read ssh key " + s.ssh_key);
    credential answer;
    answer.type = credential::kind::ssh_key;
    answer.user = user_in_url.empty() ? s.ssh_user : user_in_url;
    answer.private_key = s.ssh_key;
    if (auto pub = s.ssh_key + ".pub"; ::access(pub.c_str(), R_OK) == 0)
      answer.public_key = pub;
    return answer;
  }
  if (allowed & GIT_CREDENTIAL_USERNAME) {
    if (offered_username_)
      return refuse("the remote refused ssh user " + s.ssh_user);
    offered_username_ = true;
    return credential{credential::kind::username, s.ssh_user, {}, {}, {}};
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) &&
      (!s.token_file.empty() || !s.token_env.empty())) {
    const auto source = s.token_file.empty() ? "$" + s.token_env : "the token of " + s.token_file;
    if (offered_token_)
      return refuse("the remote refused " + source);
    offered_token_ = true;
    std::string token;
    if (!s.token_file.empty()) {
      std::ifstream in{s.token_file};
      if (!in)
        return refuse("cannot read token file " + s.token_file);
      std::getline(in, token);
    } else if (const char* value = std::getenv(s.token_env.c_str())) {
      token = value;
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' '))
      token.pop_back();
    if (token.empty())
      return refuse(source + " is empty");
    return credential{credential::kind::token,
                      user_in_url.empty() ? s.token_user : user_in_url,
                      {},
                      {},
                      std::move(token)};
  }
  return refuse("the remote asks for credentials and none of the kind it accepts are configured "
                "(breath.credentials)");
}

} // namespace montana
