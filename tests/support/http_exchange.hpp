// One HTTP/1.0 request over a connected socket, for tests that talk to a helper's control port
// or a node's status endpoint inside a test host (support/netns.hpp makes such sockets).
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace montana::testing {

/// The answer to one request: its status (0 when there was no well-formed answer) and body.
struct http_answer {
  int status = 0;
  std::string body;
};

/// Sends `method` `path` with `body` (JSON) over `fd`, reads the answer until the server
/// closes, within `timeout`; closes `fd`.
inline http_answer http_exchange(int fd, const std::string& method, const std::string& path,
                                 const std::string& body, std::chrono::milliseconds timeout) {
  auto request =
      method + " " + path + " HTTP/1.0\r\nHost: test\r\nConnection: close\r\n" +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  http_answer out;
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) != 1)
        break;
      char buf[8192];
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        break;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  auto head_end = got.find("\r\n\r\n");
  if (got.starts_with("HTTP/1.") && got.size() > 12 && head_end != std::string::npos) {
    out.status = std::atoi(got.c_str() + 9);
    out.body = got.substr(head_end + 4);
  }
  return out;
}

} // namespace montana::testing
