// Which credentials a fetch or push offers when the remote asks (libgit2's credentials callback
// asks this class, then builds the libgit2 object). Pure apart from reading the key's ".pub"
// neighbour, the token file and the environment; no libgit2 in here.
#pragma once

#include "actors/settings.hpp"

#include <optional>
#include <string>

namespace montana {

/// One answer to a credentials request.
struct credential {
  enum class kind {
    /// Only a user name: libgit2 asks for it first over SSH when the URL names none.
    username,
    /// A private key file (and its public key, when `<key>.pub` exists) for SSH.
    ssh_key,
    /// User name and token for HTTPS.
    token,
  };
  kind type = kind::username;
  std::string user;
  std::string private_key;
  /// Empty when `<private_key>.pub` does not exist (libssh2 then derives it from the key).
  std::string public_key;
  /// The HTTPS token; never logged, never put into a message.
  std::string token;
};

/// Chooses the credentials of ONE fetch or push. libgit2 asks again after the remote refused an
/// answer; each kind is offered once, so a refusal ends the operation as "authentication
/// refused" instead of looping.
class credential_picker {
public:
  explicit credential_picker(breath_credentials settings);

  /// The answer to a request whose URL names `user_in_url` (empty: none) and that accepts the
  /// libgit2 credential kinds in `allowed` (a GIT_CREDENTIAL_* bit set); nullopt when nothing
  /// (more) can be offered, and `refusal()` then says why.
  std::optional<credential> pick(const std::string& user_in_url, unsigned allowed);

  /// Why the last `pick` returned nothing: one line naming the key file, token file or
  /// variable, never a secret.
  const std::string& refusal() const { return refusal_; }

private:
  std::optional<credential> refuse(std::string why);

  breath_credentials settings_;
  bool offered_username_ = false;
  bool offered_key_ = false;
  bool offered_token_ = false;
  std::string refusal_;
};

} // namespace montana
