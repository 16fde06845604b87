#include "runtime/shell_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace montana {

namespace {

/// Longest line the node may send (a cluster view of five nodes is far shorter).
constexpr size_t max_line = 16 << 20;

} // namespace

shell_connection::shell_connection(const std::string& path, std::chrono::milliseconds timeout)
    : path_(path) {
  sockaddr_un address{};
  if (path.size() >= sizeof address.sun_path)
    throw shell_error("shell socket " + path + ": the path is too long");
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw shell_error(std::string{"cannot make a socket: "} + std::strerror(errno));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    auto err = errno;
    ::close(fd_);
    fd_ = -1;
    auto hint = err == ENOENT || err == ECONNREFUSED ? " (is the node running on this host?)"
                : err == EACCES ? " (run as the service's user or a member of its group)"
                                : "";
    throw shell_error("cannot connect to " + path + ": " + std::strerror(err) + hint);
  }
  auto greeting = next(timeout);
  if (!greeting)
    throw shell_error(path + ": the node did not greet the shell within " +
                      std::to_string(timeout.count()) + " ms");
  try {
    node_ = greeting->at("node").get<std::string>();
    operator_ = greeting->at("operator").get<std::string>();
  } catch (const std::exception& e) {
    throw shell_error(path + ": not a montana shell socket: " + e.what());
  }
}

shell_connection::~shell_connection() {
  if (fd_ >= 0)
    ::close(fd_);
}

void shell_connection::send(const json& request) {
  auto text = request.dump() + "\n";
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::send(fd_, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      throw shell_error("node " + node_ + " went away");
    done += static_cast<size_t>(n);
  }
}

std::optional<json> shell_connection::next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto end = buffer_.find('\n'); end != std::string::npos) {
      auto line = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      try {
        return json::parse(line);
      } catch (const std::exception& e) {
        throw shell_error("node " + node_ + " sent a line that is not JSON: " + e.what());
      }
    }
    if (buffer_.size() > max_line)
      throw shell_error("node " + node_ + " sent a line over " + std::to_string(max_line) +
                        " bytes");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    auto ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR)
      return std::nullopt; // a signal: let the caller look at its stop flag
    if (ready <= 0)
      continue;
    char chunk[65536];
    auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      throw shell_error(node_.empty() ? path_ + ": the node closed the connection"
                                      : "node " + node_ + " went away");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

json shell_connection::ask(std::chrono::milliseconds timeout, json request) {
  auto id = next_id_++;
  request["id"] = id;
  send(request);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto line = left.count() > 0 ? next(left) : std::nullopt;
    if (!line) {
      if (std::chrono::steady_clock::now() < deadline)
        continue;
      throw shell_error("node " + node_ + " did not answer within " +
                        std::to_string(timeout.count() / 1000) + " s");
    }
    auto re = line->find("re");
    if (re == line->end() || !re->is_number_unsigned() || re->get<uint64_t>() != id)
      continue; // a streamed event or a late answer
    if (auto error = line->find("error"); error != line->end())
      throw shell_error(error->is_string() ? error->get<std::string>() : error->dump());
    return line->value("ok", json{});
  }
}

void shell_connection::stream(bool events, bool log, std::chrono::milliseconds duration,
                              const std::atomic<bool>& stop,
                              const std::function<void(const node_event&)>& on_event,
                              const std::function<void(const log_line&)>& on_log) {
  ask(std::chrono::seconds{5}, json{{"ask", "watch"}, {"events", events}, {"log", log}});
  auto deadline = std::chrono::steady_clock::now() + duration;
  while (!stop && (duration.count() == 0 || std::chrono::steady_clock::now() < deadline)) {
    auto line = next(std::chrono::milliseconds{100});
    if (!line)
      continue;
    try {
      if (auto e = line->find("event"); e != line->end())
        on_event(e->get<node_event>());
      else if (auto l = line->find("log"); l != line->end())
        on_log(l->get<log_line>());
    } catch (const nlohmann::json::exception& e) {
      throw shell_error("node " + node_ +
                        " streamed something this shell cannot read: " + e.what());
    }
  }
  try {
    ask(std::chrono::seconds{5}, json{{"ask", "unwatch"}});
  } catch (const shell_error&) {
    // Whatever is left of the stream ends with the connection.
  }
}

} // namespace montana
