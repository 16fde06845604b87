// A clone that breathes without pause (exhale, fetch, inhale, push) through the real git_port
// while a writer thread keeps adding keys to data/users.json, for runtime.git_port_crash, which
// SIGKILLs it at random moments.
//
//   montana-breath-loop <clone> <node> <journal>
//
// The writer follows the lock protocol: under the sync lock it reads data/users.json, adds
// "<node>-<n>": n, writes a temporary file outside the clone and renames it into place; after the
// lock is released it appends "<n>\n" to <journal>. So every n in the journal was written before
// the kill and must reach the remote. n continues after the journal's last entry. A failed breath
// is printed and followed by prepare, as the breather does.
#include "support/breathing.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <unistd.h>

namespace {

/// The last n in the journal, 0 when it is empty.
long last_written(const std::string& journal) {
  std::ifstream in{journal};
  long n = 0;
  for (long value; in >> value;)
    n = value;
  return n;
}

/// Adds key `<node>-<n>` under the sync lock; false when the file cannot be updated now.
bool write_key(const std::string& clone, const std::string& node, long n, const std::string& temp) {
  montana::sync_lock lock{montana::sync_lock_path(clone)};
  const auto path = clone + "/data/users.json";
  std::ifstream in{path};
  auto users = nlohmann::json::parse(std::istreambuf_iterator<char>{in},
                                     std::istreambuf_iterator<char>{}, nullptr, false);
  if (!users.is_object())
    users = nlohmann::json::object();
  users[node + "-" + std::to_string(n)] = n;
  {
    std::ofstream out{temp, std::ios::trunc};
    out << users.dump(1) << "\n";
    if (!out.flush())
      return false;
  }
  return std::rename(temp.c_str(), path.c_str()) == 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: montana-breath-loop <clone> <node> <journal>\n");
    return 2;
  }
  montana::testing::use_built_transfer();
  const std::string clone = argv[1];
  const std::string node = argv[2];
  const std::string journal = argv[3];
  std::thread writer{[&] {
    int fd = ::open(journal.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    for (long n = last_written(journal) + 1;; ++n) {
      while (!write_key(clone, node, n, journal + ".tmp"))
        std::this_thread::sleep_for(std::chrono::milliseconds{1});
      auto line = std::to_string(n) + "\n";
      if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
  }};
  montana::git_port port{montana::testing::breath_settings_for(clone, node), node};
  bool prepared = false;
  for (long breath = 0;; ++breath) {
    try {
      if (!prepared) {
        port.prepare();
        prepared = true;
      }
      montana::testing::breathe(port, "20260101T" + std::to_string(100000 + breath % 800000) + "Z");
    } catch (const std::exception& e) {
      std::printf("breath %ld failed: %s\n", breath, e.what());
      std::fflush(stdout);
      prepared = false;
    }
  }
}
