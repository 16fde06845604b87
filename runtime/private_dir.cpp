#include "runtime/private_dir.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <unistd.h>

namespace montana {

private_dir::private_dir(const std::string& what) {
  auto parent = std::filesystem::temp_directory_path();
  path_ = (parent / ("montana-" + what + "-XXXXXX")).string();
  if (::mkdtemp(path_.data()) == nullptr)
    throw std::runtime_error("cannot create a directory under " + parent.string() + ": " +
                             std::strerror(errno));
}

private_dir::~private_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

} // namespace montana
