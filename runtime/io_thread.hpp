// The node's I/O thread: one Asio io_context that runs the channel, the shell socket and the
// status endpoint, so that no socket work ever runs on a CAF scheduler thread.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <string>
#include <thread>

namespace montana {

/// Marks `fd` close-on-exec. Asio opens and accepts sockets without it, and a duty process (or
/// any child) would otherwise keep the node's listening sockets and links open.
void close_on_exec(int fd);

class io_thread {
public:
  /// Starts the thread; `name` is its name in `top -H` (at most 15 characters).
  explicit io_thread(const std::string& name);
  /// Stops the io_context and joins the thread; handlers not run yet are destroyed with it.
  ~io_thread();

  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;

  boost::asio::io_context& context() { return io_; }

private:
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

} // namespace montana
