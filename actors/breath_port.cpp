#include "actors/breath_port.hpp"

namespace montana {

bool repo_relative(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.back() == '/' ||
      path.find('\n') != std::string_view::npos)
    return false;
  while (!path.empty()) {
    auto end = path.find('/');
    auto part = path.substr(0, end);
    if (part.empty() || part == "." || part == ".." || part == ".git")
      return false;
    path = end == std::string_view::npos ? std::string_view{} : path.substr(end + 1);
  }
  return true;
}

} // namespace montana
