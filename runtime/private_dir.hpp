// A directory only this process uses, for files that must exist by path for a while (the demo's
// identities, configuration and shell sockets).
//
// Made by mkdtemp (mode 0700) under the temporary directory and removed with everything in it
// when the object goes — also when the constructor of the object holding it throws. A process
// killed by SIGKILL leaves it behind; the service's unit runs with PrivateTmp=yes, so systemd
// removes it then.
#pragma once

#include <string>

namespace montana {

class private_dir {
public:
  /// Makes `<temporary directory>/montana-<what>-XXXXXX`; throws std::runtime_error naming the
  /// parent directory and the reason when it cannot.
  explicit private_dir(const std::string& what);
  ~private_dir();
  private_dir(const private_dir&) = delete;
  private_dir& operator=(const private_dir&) = delete;

  const std::string& path() const { return path_; }

private:
  std::string path_;
};

} // namespace montana
