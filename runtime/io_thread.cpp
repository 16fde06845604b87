#include "runtime/io_thread.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <pthread.h>

namespace montana {

void close_on_exec(int fd) {
  if (fd >= 0)
    ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
}

io_thread::io_thread(const std::string& name)
    : work_(boost::asio::make_work_guard(io_)), thread_([this, name] {
        ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
        for (;;) {
          // A handler that throws is a bug; it must not take the node's sockets down with it.
          try {
            io_.run();
            return;
          } catch (const std::exception& e) {
            spdlog::error("I/O thread: {}", e.what());
          }
        }
      }) {}

io_thread::~io_thread() {
  work_.reset();
  io_.stop();
  thread_.join();
}

} // namespace montana
