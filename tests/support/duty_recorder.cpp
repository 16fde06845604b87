// A stand-in duty for tests: appends "start" and "stop" records with wall-clock
// times to the file named by MONTANA_RECORD, so tests judge overlap from the
// children's own records. Behaviour switches (env):
//   MONTANA_RECORD_CRASH_AFTER_MS  exit(3) that many ms after start (a crashing duty)
//   MONTANA_RECORD_IGNORE_TERM=1   ignore SIGTERM (forces the SIGKILL path)
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_term(int) {
  stop_requested = 1;
}

long long now_us() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

void record(const char* what) {
  const char* path = std::getenv("MONTANA_RECORD");
  if (path == nullptr)
    return;
  const char* node = std::getenv("MONTANA_NODE_NAME");
  const char* duty = std::getenv("MONTANA_DUTY");
  const char* term = std::getenv("MONTANA_TERM");
  std::string line = std::string{what} + " " + (node ? node : "?") + " " + (duty ? duty : "?") +
                     " " + (term ? term : "?") + " " + std::to_string(getpid()) + " " +
                     std::to_string(now_us()) + "\n";
  int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  // One write() per record: O_APPEND keeps concurrent writers' lines whole.
  if (::write(fd, line.data(), line.size()) < 0)
    std::perror("montana-duty-recorder: write");
  ::fsync(fd);
  ::close(fd);
}

} // namespace

int main() {
  if (std::getenv("MONTANA_RECORD_IGNORE_TERM") != nullptr)
    std::signal(SIGTERM, SIG_IGN);
  else
    std::signal(SIGTERM, on_term);
  record("start");
  std::printf("duty recorder %d running\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  long crash_after_ms = -1;
  if (const char* v = std::getenv("MONTANA_RECORD_CRASH_AFTER_MS"))
    crash_after_ms = std::atol(v);
  auto started = now_us();
  while (stop_requested == 0) {
    usleep(2000);
    if (crash_after_ms >= 0 && now_us() - started >= crash_after_ms * 1000) {
      record("crash");
      return 3;
    }
  }
  record("stop");
  return 0;
}
