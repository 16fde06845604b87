// A stand-in bot for the hand-over tests, written like the original Telegram bot: it loads
// data/users.json of its node's clone at start and then, every 100 ms, appends an entry to one
// of 50 users and rewrites the whole file in place (open with truncation, write in pieces), not
// atomically. After each complete write it appends the entry to a journal, so a test can tell
// which writes the data must still hold. Like every bot should, it finishes the write it is in
// before it exits on SIGTERM.
//
//   montana-journal-writer CLONES_DIR JOURNAL   (the clone is CLONES_DIR/$MONTANA_NODE_NAME)
//
// Journal line: "<entry> <user>", where entry is "<node>-<term>-<pid>-<seq>".
#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_term(int) {
  stop_requested = 1;
}

/// Writes `text` to `fd` in pieces with a pause between them, as buffered writers do.
bool write_slowly(int fd, const std::string& text) {
  constexpr std::size_t piece = 4096;
  for (std::size_t done = 0; done < text.size();) {
    auto n = ::write(fd, text.data() + done, std::min(piece, text.size() - done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
    std::this_thread::sleep_for(std::chrono::microseconds{300});
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: montana-journal-writer CLONES_DIR JOURNAL\n");
    return 2;
  }
  std::signal(SIGTERM, on_term);
  const char* node = std::getenv("MONTANA_NODE_NAME");
  const char* term = std::getenv("MONTANA_TERM");
  if (!node || !term) {
    std::fprintf(stderr, "montana-journal-writer: MONTANA_NODE_NAME and MONTANA_TERM unset\n");
    return 2;
  }
  const std::string path = std::string{argv[1]} + "/" + node + "/data/users.json";
  std::ifstream in{path};
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  auto users = nlohmann::json::parse(text, nullptr, false);
  if (!users.is_object()) {
    // What the original bot did on a broken file: fail to start.
    std::fprintf(stderr, "montana-journal-writer: %s does not parse\n", path.c_str());
    return 1;
  }
  const auto prefix = std::string{node} + "-" + term + "-" + std::to_string(::getpid()) + "-";
  std::minstd_rand random{static_cast<unsigned>(::getpid())};
  for (long seq = 0; !stop_requested; ++seq) {
    const auto user = "u" + std::to_string(random() % 50);
    const auto entry = prefix + std::to_string(seq);
    users[user]["log"].push_back(entry);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || !write_slowly(fd, users.dump() + "\n")) {
      std::perror("montana-journal-writer: write");
      return 1;
    }
    ::close(fd);
    int journal = ::open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    auto line = entry + " " + user + "\n";
    if (journal < 0 || ::write(journal, line.data(), line.size()) < 0) {
      std::perror("montana-journal-writer: journal");
      return 1;
    }
    ::close(journal);
    for (int i = 0; i < 10 && !stop_requested; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return 0;
}
