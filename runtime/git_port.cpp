#include "runtime/git_port.hpp"

#include "actors/json_scan.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace montana {

namespace {

using namespace std::chrono_literals;

/// Suffix of the temporary file a replacement writes next to its target.
constexpr std::string_view temp_suffix = ".montana-tmp";

/// `<dir>/.<name>.montana-tmp` for the working file `full`.
std::string temp_path(const std::string& full) {
  auto slash = full.rfind('/');
  return full.substr(0, slash + 1) + "." + full.substr(slash + 1) + std::string{temp_suffix};
}

/// The sync record (see git_port.hpp): the tip the working tree was brought up to date with,
/// and per synced path its base blob (nullopt: the file did not exist).
struct sync_record {
  std::optional<std::string> tip;
  std::map<std::string, std::optional<std::string>> bases;
  bool operator==(const sync_record&) const = default;
};

constexpr std::string_view record_header = "montana synced 1";

/// Reads the record at `path`: nullopt when there is none; throws `std::invalid_argument` when
/// it cannot be parsed.
std::optional<sync_record> read_record(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return std::nullopt;
  sync_record record;
  std::string line;
  if (!std::getline(in, line) || line != record_header)
    throw std::invalid_argument{"bad header"};
  auto id_or_none = [](const std::string& word) -> std::optional<std::string> {
    if (word == "-")
      return std::nullopt;
    if (word.size() != 40 || word.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw std::invalid_argument{"bad id"};
    return word;
  };
  while (std::getline(in, line)) {
    if (line.starts_with("tip ")) {
      record.tip = id_or_none(line.substr(4));
    } else if (auto space = line.find(' ', 5);
               line.starts_with("base ") && space != std::string::npos && space + 1 < line.size()) {
      record.bases[line.substr(space + 1)] = id_or_none(line.substr(5, space - 5));
    } else {
      throw std::invalid_argument{"bad line"};
    }
  }
  return record;
}

/// The record in `<gitdir>/montana/synced`; an unreadable one fails `step` (prepare replaces it).
std::optional<sync_record> load_record(const std::string& gitdir, const std::string& step,
                                       const std::string& repo) {
  try {
    return read_record(gitdir + "montana/synced");
  } catch (const std::invalid_argument&) {
    git_fail(step, repo, "the sync record is unreadable (prepare first)");
  }
}

/// The working-tree state of one path.
struct on_disk_file {
  /// Something that is no file stands there (a directory), or a parent is no directory.
  bool blocked = false;
  /// What git would record for it; nullopt: nothing there.
  std::optional<file_entry> entry;
  /// The content of a regular file, the target of a symbolic link.
  std::string text;
};

/// How a file read from the working tree gets its blob id.
using id_of_text = std::function<std::string(const std::string&)>;

/// Reads the working-tree path `full` (throws `git_failure` for `step` on I/O errors); the blob
/// id of a regular file comes from `id` (by default only computed, not stored).
on_disk_file look(const std::string& full, const std::string& step, const std::string& repo,
                  const id_of_text& id = git_repo::blob_id) {
  on_disk_file file;
  struct stat st {};
  if (::lstat(full.c_str(), &st) != 0) {
    if (errno == ENOTDIR)
      file.blocked = true;
    else if (errno != ENOENT)
      git_fail(step, repo, "'" + full + "': " + std::strerror(errno));
    return file;
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
    auto n = ::readlink(full.c_str(), target.data(), target.size());
    if (n < 0)
      git_fail(step, repo, "'" + full + "': " + std::strerror(errno));
    target.resize(static_cast<std::size_t>(n));
    file.entry = file_entry{git_repo::blob_id(target), symlink_file};
    file.text = std::move(target);
  } else if (S_ISREG(st.st_mode)) {
    int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      git_fail(step, repo, "cannot read '" + full + "': " + std::strerror(errno));
    char buffer[65536];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof buffer)) != 0) {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        auto saved = errno;
        ::close(fd);
        git_fail(step, repo, "cannot read '" + full + "': " + std::strerror(saved));
      }
      file.text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    file.entry = file_entry{id(file.text), (st.st_mode & S_IXUSR) ? executable_file : regular_file};
  } else {
    file.blocked = true;
  }
  return file;
}

/// Whether `text` has a line git writes into a conflicted file ("<<<<<<< ours").
bool has_conflict_markers(const std::string& text) {
  return text.starts_with("<<<<<<< ") || text.find("\n<<<<<<< ") != std::string::npos;
}

/// Whether the working file `disk` holds version `version` (the executable bit aside).
bool holds(const std::optional<file_entry>& disk, const std::optional<file_entry>& version) {
  if (!disk || !version)
    return !disk && !version;
  return disk->id == version->id && (disk->mode == symlink_file) == (version->mode == symlink_file);
}

/// The blob id of a version, nullopt for "absent".
std::optional<std::string> id_of(const std::optional<file_entry>& version) {
  return version ? std::optional<std::string>{version->id} : std::nullopt;
}

/// The content of `version` in the object store ("" for none); fails `step` when it is missing.
std::string content_of(git_repo& repo, const std::optional<file_entry>& version,
                       const std::string& step) {
  if (!version)
    return {};
  auto text = repo.blob(version->id);
  if (!text)
    git_fail(step, repo.path(), "blob " + version->id + " is missing");
  return *text;
}

/// Writes `text` to `fd` completely.
bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Replaces the working file `workdir + path` atomically with `version` (content `text`), or
/// removes it (and directories left empty) when `version` is nullopt. A replaced regular file
/// keeps its permissions.
void put_file(const std::string& workdir, const std::string& path,
              const std::optional<file_entry>& version, const std::string& text,
              const std::string& step, const std::string& repo) {
  namespace fs = std::filesystem;
  const auto full = workdir + path;
  auto problem = [&](const std::string& what) {
    git_fail(step, repo, what + " '" + path + "': " + std::strerror(errno));
  };
  if (!version) {
    if (::unlink(full.c_str()) != 0 && errno != ENOENT)
      problem("cannot remove");
    for (auto dir = fs::path{full}.parent_path(); dir.string().size() >= workdir.size();
         dir = dir.parent_path())
      if (::rmdir(dir.c_str()) != 0)
        break; // not empty (or not ours to remove)
    return;
  }
  std::error_code ec;
  fs::create_directories(fs::path{full}.parent_path(), ec);
  if (ec)
    git_fail(step, repo, "cannot create the directory of '" + path + "': " + ec.message());
  const auto temp = temp_path(full);
  ::unlink(temp.c_str());
  if (version->mode == symlink_file) {
    if (::symlink(text.c_str(), temp.c_str()) != 0)
      problem("cannot write");
  } else {
    struct stat st {};
    const bool replacing = ::stat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    const mode_t mode = version->mode == executable_file ? 0777 : 0666;
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
      problem("cannot write");
    bool ok = write_all(fd, text) && (!replacing || ::fchmod(fd, st.st_mode & 07777) == 0) &&
              ::fsync(fd) == 0;
    auto saved = errno;
    ::close(fd);
    if (!ok) {
      ::unlink(temp.c_str());
      errno = saved;
      problem("cannot write");
    }
  }
  if (::rename(temp.c_str(), full.c_str()) != 0) {
    auto saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    problem("cannot replace");
  }
}

/// Writes the record to `path` atomically.
void write_record(const std::string& path, const sync_record& record, const std::string& repo) {
  std::string text{record_header};
  text += "\ntip " + record.tip.value_or("-") + "\n";
  for (const auto& [file, base] : record.bases)
    text += "base " + base.value_or("-") + " " + file + "\n";
  auto slash = path.rfind('/');
  put_file(path.substr(0, slash + 1), path.substr(slash + 1), file_entry{}, text, "save record",
           repo);
}

/// Marks a step in progress in `<gitdir>/montana/busy` while it lives (see git_port.hpp).
class step_mark {
public:
  step_mark(const git_repo& repo, const std::string& step, const std::string& where)
      : path_{repo.gitdir() + "montana/busy"} {
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
      git_fail(step, where, "cannot create '" + path_ + "': " + std::strerror(errno));
    ::close(fd);
  }
  step_mark(const step_mark&) = delete;
  step_mark& operator=(const step_mark&) = delete;
  ~step_mark() { ::unlink(path_.c_str()); }

private:
  std::string path_;
};

/// The end of exhale and inhale: the index follows, then the record (when it changed).
void settle(git_repo& repo, const std::vector<index_change>& staged, const sync_record& record,
            const std::optional<sync_record>& saved, const std::string& where) {
  repo.restage(staged);
  if (record != saved)
    write_record(repo.gitdir() + "montana/synced", record, where);
}

/// The writer lock of `repo` (see `sync_lock_path`).
std::string writer_lock_path(const git_repo& repo) {
  return repo.gitdir() + "montana-sync.lock";
}

/// The lock files a libgit2 operation of ours creates and a crash leaves behind.
std::vector<std::string> git_lock_files(const git_repo& repo, const breath_settings& settings) {
  const auto gitdir = repo.gitdir();
  const auto common = repo.commondir();
  return {gitdir + "index.lock",
          gitdir + "HEAD.lock",
          gitdir + "FETCH_HEAD.lock",
          gitdir + "ORIG_HEAD.lock",
          common + "packed-refs.lock",
          common + "refs/heads/" + settings.branch + ".lock",
          common + "refs/remotes/" + settings.remote + "/" + settings.branch + ".lock"};
}

/// A synced working file as exhale and inhale see it.
struct observed {
  /// Its entry; its text only when `read`.
  on_disk_file file;
  /// Whether it was read now (not known by its stat).
  bool read = false;
  /// Whether it parses (a path that is not ".json" always does).
  bool valid = true;
  /// Whether its blob is in the object store already.
  bool stored = false;
};

/// Size, times, inode, device and mode of a file: what tells that it was written.
std::array<int64_t, 6> stamp_of(const struct stat& st) {
  auto ns = [](const timespec& t) {
    return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
  };
  return {static_cast<int64_t>(st.st_dev),
          static_cast<int64_t>(st.st_ino),
          static_cast<int64_t>(st.st_size),
          ns(st.st_mtim),
          ns(st.st_ctim),
          static_cast<int64_t>(st.st_mode)};
}

/// A stat younger than this when the file was read is not trusted to tell a later write apart:
/// file times come from the kernel's coarse clock (one tick, 4 ms at HZ=250).
constexpr int64_t racy_ns = 20000000;

/// The synced working file `path`: known by its stat when it did not change since it was read
/// (see git_port.hpp), read otherwise. A file read that parses is stored as a blob right away:
/// hashing it is most of the cost, and it is about to be committed anyway.
observed observe(std::map<std::string, git_port::known_file>& known, git_repo& repo,
                 const std::string& path, const std::string& step) {
  observed out;
  const auto full = repo.workdir() + path;
  struct stat st {};
  if (::lstat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    known.erase(path);
    out.file = look(full, step, repo.path());
    return out;
  }
  const auto stamp = stamp_of(st);
  if (auto it = known.find(path); it != known.end() && it->second.stamp == stamp) {
    out.file.entry = it->second.entry;
    out.valid = it->second.valid;
    out.stored = out.valid;
    return out;
  }
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const int64_t read_at = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
  out.file = look(full, step, repo.path(), [&](const std::string& text) {
    out.valid = !json_path(path) || scan_json(text).valid();
    out.stored = out.valid;
    return out.valid ? repo.write_blob(text) : git_repo::blob_id(text);
  });
  out.read = true;
  if (out.file.entry && std::max(stamp[3], stamp[4]) + racy_ns < read_at)
    known[path] = git_port::known_file{stamp, out.file.entry, out.valid};
  else
    known.erase(path);
  return out;
}

/// The newest version of `path` that parses and its text: HEAD's, else along HEAD's first
/// parents (at most 100 commits), else the remote-tracking branch's; nullopt when none does.
std::optional<std::pair<file_entry, std::string>>
last_good(git_repo& repo, const std::optional<std::string>& head, const std::string& upstream,
          const std::string& path, const std::string& step) {
  auto good = [&](const std::optional<std::string>& commit)
      -> std::optional<std::pair<file_entry, std::string>> {
    auto version = repo.file_at(commit, path);
    if (!version || version->mode == symlink_file)
      return std::nullopt;
    auto text = content_of(repo, version, step);
    if (!scan_json(text).valid())
      return std::nullopt;
    return std::pair{file_entry{version->id, regular_file}, std::move(text)};
  };
  auto commit = head;
  for (int i = 0; i < 100 && commit; ++i, commit = repo.first_parent(*commit))
    if (auto found = good(commit))
      return found;
  return good(repo.tip(upstream));
}

/// The lock files a killed fetch or push may leave behind.
std::vector<std::string> transfer_locks(const git_repo& repo, const breath_settings& settings) {
  const auto common = repo.commondir();
  return {repo.gitdir() + "FETCH_HEAD.lock", common + "packed-refs.lock",
          common + "refs/remotes/" + settings.remote + "/" + settings.branch + ".lock"};
}

/// Removes the temporary pack files of a failed libgit2 fetch ("pack_git2_*"; only libgit2
/// names them so, and only this port runs libgit2 on the clone).
void remove_pack_leftovers(const git_repo& repo) {
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator{repo.commondir() + "objects/pack", ec})
    if (entry.path().filename().string().starts_with("pack_git2_"))
      std::filesystem::remove(entry.path(), ec);
}
} // namespace

std::string sync_lock_path(const std::string& repo) {
  return writer_lock_path(git_repo::open(repo));
}

sync_lock::sync_lock(const std::string& path, std::chrono::milliseconds wait) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0)
    git_fail("lock", path, std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR)
      continue;
    auto saved = errno;
    if (saved != EWOULDBLOCK || std::chrono::steady_clock::now() >= deadline) {
      ::close(fd_);
      fd_ = -1;
      git_fail("lock", path,
               saved == EWOULDBLOCK
                   ? "held by someone else for over " + std::to_string(wait.count()) + " ms"
                   : std::string{std::strerror(saved)});
    }
    std::this_thread::sleep_for(2ms);
  }
}

sync_lock::sync_lock(sync_lock&& other) noexcept : fd_{std::exchange(other.fd_, -1)} {}

sync_lock& sync_lock::operator=(sync_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

sync_lock::~sync_lock() {
  if (fd_ >= 0)
    ::close(fd_); // closing the last descriptor releases the flock
}

git_port::git_port(breath_settings settings, std::string node, git_port_options options)
    : settings_{std::move(settings)}, node_{std::move(node)}, options_{std::move(options)},
      transfer_{options_.transfer} {}

git_port::~git_port() = default;

git_repo& git_port::repo(const std::string& step) {
  if (!repo_)
    git_fail(step, settings_.repo, "the clone is not open (prepare first)");
  if (repo_->head_branch() != branch_ref())
    git_fail(step, settings_.repo, "HEAD is not on " + branch_ref());
  return *repo_;
}

std::string git_port::branch_ref() const {
  return "refs/heads/" + settings_.branch;
}

std::string git_port::prepare() {
  repo_.reset();
  known_.clear();
  for (const auto& path : settings_.paths)
    if (!repo_relative(path))
      git_fail("prepare", settings_.repo, "synced path '" + path + "' is not inside the clone");
  auto repo = git_repo::open(settings_.repo, settings_.credentials);
  const auto dir = repo.gitdir() + "montana/";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    git_fail("prepare", settings_.repo, "cannot create " + dir + ": " + ec.message());
  if (!port_lock_) {
    try {
      port_lock_.emplace(dir + "port.lock", 0ms);
    } catch (const git_failure&) {
      git_fail("prepare", settings_.repo,
               "another breath port is using this clone (it holds " + dir + "port.lock)");
    }
  }
  std::vector<std::string> repaired;
  std::optional<sync_record> record;
  try {
    record = read_record(dir + "synced");
  } catch (const std::invalid_argument&) {
    ::unlink((dir + "synced").c_str());
    repaired.emplace_back("discarded an unreadable sync record");
  }
  if (::access((dir + "busy").c_str(), F_OK) == 0) {
    // The last step died: the git locks and temporary files it held are leftovers.
    int removed = 0;
    for (const auto& lock : git_lock_files(repo, settings_))
      removed += ::unlink(lock.c_str()) == 0;
    std::set<std::string> touched{settings_.paths.begin(), settings_.paths.end()};
    auto head = repo.tip(branch_ref());
    if (record && record->tip && head && repo.has_commit(*record->tip))
      for (auto& path : repo.changed_paths(record->tip, *head))
        touched.insert(std::move(path));
    for (const auto& path : touched)
      removed += ::unlink(temp_path(repo.workdir() + path).c_str()) == 0;
    removed += ::unlink(temp_path(dir + "synced").c_str()) == 0;
    ::unlink((dir + "busy").c_str());
    repaired.push_back(removed == 0 ? "an interrupted step left nothing behind"
                                    : "removed " + std::to_string(removed) +
                                          " lock or temporary files of an interrupted step");
  }
  step_mark mark{repo, "prepare", settings_.repo};
  {
    // Aborting a rebase or merge resets working files, synced ones too: writers may have kept
    // writing meanwhile, so each goes back to what it was unless it holds git's conflict markers.
    sync_lock lock{writer_lock_path(repo), options_.lock_wait};
    const auto workdir = repo.workdir();
    std::vector<on_disk_file> before;
    for (const auto& path : settings_.paths)
      before.push_back(look(workdir + path, "prepare", settings_.repo));
    if (auto aborted = repo.repair(); !aborted.empty()) {
      repaired.push_back(std::move(aborted));
      for (std::size_t i = 0; i < before.size(); ++i) {
        const auto& file = before[i];
        const auto& path = settings_.paths[i];
        if (!file.entry || file.entry->mode == symlink_file || has_conflict_markers(file.text) ||
            holds(look(workdir + path, "prepare", settings_.repo).entry, file.entry))
          continue;
        put_file(workdir, path, file.entry, file.text, "prepare", settings_.repo);
        repaired.push_back("kept the working copy of " + path);
      }
    }
  }
  if (auto head = repo.head_branch(); head != branch_ref())
    git_fail("prepare", settings_.repo, "HEAD is on " + head + ", not " + branch_ref());
  if (!record) { // the first breath: the working tree is taken to reflect HEAD
    sync_record fresh{repo.tip(branch_ref()), {}};
    for (const auto& path : settings_.paths)
      fresh.bases[path] = id_of(repo.file_at(fresh.tip, path));
    write_record(dir + "synced", fresh, settings_.repo);
  }
  if (!warned_local_remote_) {
    // libgit2 pushes to a path in-process and moves the remote's branch without a
    // compare-and-swap: two nodes pushing at once can overwrite each other's commits there.
    auto url = repo.remote_url(settings_.remote);
    if (url.starts_with("/") || url.starts_with("file:") || url.starts_with(".")) {
      spdlog::warn("[{}] breath: remote {} is a local path ({}): nodes pushing to it at the same "
                   "moment can overwrite each other's commits; serve it over ssh://, https:// or "
                   "git:// instead",
                   node_, settings_.remote, url);
      warned_local_remote_ = true;
    }
  }
  repo_ = std::move(repo);
  std::string line;
  for (const auto& part : repaired)
    line += (line.empty() ? "" : "; ") + part;
  return line;
}

exhale_result git_port::exhale(const std::string& message, const std::string& utc, sync_mode mode) {
  const std::string step = "exhale";
  auto& repo = this->repo(step);
  const auto gitdir = repo.gitdir();
  const auto workdir = repo.workdir();
  step_mark mark{repo, step, settings_.repo};
  const auto head = repo.tip(branch_ref());
  const auto saved = load_record(gitdir, step, settings_.repo);
  auto record = saved.value_or(sync_record{head, {}});
  exhale_result result;

  // Read every synced file at one moment, in the writers' critical section. A JSON file that
  // does not parse may be mid-write: read again (without the lock meanwhile) until it parses
  // or `broken_wait` passed.
  std::vector<observed> read(settings_.paths.size());
  auto snapshot = [&] {
    sync_lock lock{writer_lock_path(repo), options_.lock_wait};
    for (std::size_t i = 0; i < settings_.paths.size(); ++i) {
      read[i] = observe(known_, repo, settings_.paths[i], step);
      result.files_read += read[i].read ? 1 : 0;
    }
  };
  auto some_broken = [&] {
    return std::any_of(read.begin(), read.end(), [](const observed& o) { return !o.valid; });
  };
  snapshot();
  const auto give_up = std::chrono::steady_clock::now() + settings_.broken_wait;
  while (some_broken() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(50ms);
    snapshot();
  }

  /// A working file to replace after the commit, if it still holds `expected`.
  struct replacement {
    std::string path;
    std::optional<file_entry> expected;
    std::optional<file_entry> version;
    std::string text;
    bool synced = true;
  };
  std::vector<file_change> changes;
  std::vector<replacement> replacements;
  const bool holding = mode == sync_mode::hold;
  for (std::size_t i = 0; i < settings_.paths.size(); ++i) {
    const auto& path = settings_.paths[i];
    auto& seen = read[i];
    const auto& file = seen.file;
    if (file.blocked || (file.entry && file.entry->mode == symlink_file))
      git_fail(step, settings_.repo, "synced path '" + path + "' is not a regular file");
    const auto head_version = repo.file_at(head, path);
    const auto working = id_of(file.entry);
    const auto theirs = id_of(head_version);
    // The text of the working file (a file known by its stat was not read).
    auto text = [&]() -> std::optional<std::string> {
      if (!file.entry)
        return std::nullopt;
      if (!seen.read) {
        seen.file = look(workdir + path, step, settings_.repo);
        seen.read = true;
        if (id_of(seen.file.entry) != working)
          git_fail(step, settings_.repo, "'" + path + "' changed while it was read");
      }
      return seen.file.text;
    };
    if (!seen.valid) {
      result.broken.push_back(path);
      if (holding)
        continue; // its duty may still finish it; never committed
      auto broken_text = text();
      auto good = last_good(repo, head, "refs/remotes/" + settings_.remote + "/" + settings_.branch,
                            path, step);
      if (!good) {
        spdlog::warn("[{}] breath: {} does not parse and no earlier version does either: left as "
                     "it is",
                     node_, path);
        continue;
      }
      const auto aside = path + ".broken-" + node_ + "-" + utc;
      put_file(workdir, aside, file_entry{}, broken_text.value_or(""), step, settings_.repo);
      sync_lock lock{writer_lock_path(repo), options_.lock_wait};
      if (!holds(look(workdir + path, step, settings_.repo).entry, file.entry))
        continue; // written meanwhile: the next breath looks again
      put_file(workdir, path, good->first, good->second, step, settings_.repo);
      known_.erase(path);
      result.restored.push_back(path);
      spdlog::warn("[{}] breath: {} does not parse: put back its last good version (blob {}); "
                   "the broken file is kept as {}",
                   node_, path, good->first.id, aside);
      record.bases[path] = theirs;
      if (good->first.id != theirs) // the branch's own version is broken: repair it
        changes.push_back({path, good->first});
      continue;
    }
    if (working == theirs) {
      record.bases[path] = theirs;
      continue;
    }
    auto known = record.bases.find(path);
    const auto base = known == record.bases.end() ? theirs : known->second;
    const uint32_t mode_bits =
        head_version && head_version->mode == executable_file ? executable_file : regular_file;
    auto stored = [&](const std::optional<std::string>& content) -> std::optional<file_entry> {
      if (!content)
        return std::nullopt;
      return file_entry{repo.write_blob(*content), mode_bits};
    };
    // The working file as a version to commit (observe stored it when it read it).
    auto as_version = [&]() -> std::optional<file_entry> {
      if (seen.stored && file.entry)
        return file_entry{file.entry->id, mode_bits};
      return stored(text());
    };
    if (base == theirs) { // a local change on top of the branch: commit it as it is
      changes.push_back({path, as_version()});
      record.bases[path] = working;
      continue;
    }
    if (working == base) { // the branch moved under an unchanged file
      if (holding)
        continue; // the duty sees it at its next start
      auto fresh = content_of(repo, head_version, step);
      if (head_version && json_path(path) && !scan_json(fresh).valid()) {
        changes.push_back({path, as_version()}); // the branch's version is broken: repair it
        record.bases[path] = working;
        continue;
      }
      replacements.push_back({path, file.entry, head_version, std::move(fresh)});
      record.bases[path] = working;
      continue;
    }
    // Written on an older version than the branch has: merge three ways. Our version is stored
    // too, so that it can serve as the base should the file change again before it is replaced.
    auto ours = text();
    as_version();
    merge_input in;
    in.path = path;
    in.base = base ? repo.blob(*base) : std::nullopt;
    in.ours = std::move(ours);
    if (head_version)
      in.theirs = content_of(repo, head_version, step);
    in.node = node_;
    in.utc = utc;
    in.prefer_ours = mode != sync_mode::follow;
    auto merged = options_.resolve(in);
    for (const auto& side : merged.broken)
      result.broken.push_back(path + " (" + side + ")");
    auto version = stored(merged.text);
    changes.push_back({path, version});
    if (!holding)
      replacements.push_back({path, file.entry, version, merged.text.value_or("")});
    record.bases[path] = working;
    if (merged.conflict)
      result.conflicts.push_back(path);
    if (merged.copy) {
      auto copy = repo.free_path(merged.copy->path, head);
      file_entry copy_version{repo.write_blob(merged.copy->content), regular_file};
      changes.push_back({copy, copy_version});
      replacements.push_back({copy, std::nullopt, copy_version, merged.copy->content, false});
      result.copies.push_back(copy);
    }
  }

  auto tip = head;
  if (!changes.empty()) {
    if (auto id =
            repo.commit(head, changes, message, settings_.author_name, settings_.author_email)) {
      if (!repo.move_branch(branch_ref(), *id, head, "montana exhale"))
        git_fail(step, settings_.repo,
                 branch_ref() + " moved during the exhale (the next breath retries)");
      result.commit = *id;
      tip = id;
    }
  }
  if (!replacements.empty()) {
    sync_lock lock{writer_lock_path(repo), options_.lock_wait};
    for (const auto& r : replacements) {
      if (!holds(look(workdir + r.path, step, settings_.repo).entry, r.expected))
        continue; // written meanwhile: its base stays what it was written on
      put_file(workdir, r.path, r.version, r.text, step, settings_.repo);
      known_.erase(r.path);
      if (r.synced)
        record.bases[r.path] = id_of(r.version);
    }
  }
  std::vector<index_change> staged;
  for (const auto& path : settings_.paths)
    staged.push_back({path, {}, repo.file_at(tip, path)});
  for (const auto& copy : result.copies)
    staged.push_back({copy, {std::nullopt}, repo.file_at(tip, copy)});
  settle(repo, staged, record, saved, settings_.repo);
  return result;
}

uint64_t git_port::fetch(std::chrono::milliseconds limit) {
  auto& repo = this->repo("fetch");
  step_mark mark{repo, "fetch", settings_.repo};
  try {
    transfer_.fetch(settings_, limit, transfer_locks(repo, settings_));
  } catch (...) {
    remove_pack_leftovers(repo);
    throw;
  }
  return repo.behind(settings_.remote, settings_.branch);
}

inhale_result git_port::inhale(const std::string& utc, sync_mode mode) {
  const std::string step = "inhale";
  auto& repo = this->repo(step);
  const auto gitdir = repo.gitdir();
  const auto workdir = repo.workdir();
  step_mark mark{repo, step, settings_.repo};
  inhale_result result;
  const auto old = repo.tip(branch_ref());
  const auto upstream = repo.tip("refs/remotes/" + settings_.remote + "/" + settings_.branch);
  auto tip = old;
  if (upstream && !old) {
    tip = upstream;
  } else if (upstream) {
    // Our commits carry what the duty here wrote: they win a same-key conflict while it holds
    // the files or has just let them go.
    resolver resolve = [&](const merge_input& in) {
      auto ours_first = in;
      ours_first.prefer_ours = mode != sync_mode::follow;
      auto merged = options_.resolve(ours_first);
      for (const auto& side : merged.broken)
        result.broken.push_back(in.path + " (" + side + ")");
      return merged;
    };
    auto rebased = repo.rebase(*old, *upstream, node_, utc, resolve);
    tip = rebased.tip;
    result.replayed = rebased.replayed;
    result.conflicts = std::move(rebased.conflicts);
    result.copies = std::move(rebased.copies);
  }
  if (!tip)
    return result; // an empty clone and nothing fetched
  if (tip != old &&
      !repo.move_branch(branch_ref(), *tip, old,
                        "montana inhale: onto " + settings_.remote + "/" + settings_.branch))
    git_fail(step, settings_.repo,
             branch_ref() + " moved during the inhale (the next breath retries)");

  const auto saved = load_record(gitdir, step, settings_.repo);
  // The working tree reflects the recorded tip, or (after a crash between the ref move and the
  // working-tree update) partly the branch's previous tip: compare against both.
  auto reflected = saved && saved->tip && repo.has_commit(*saved->tip) ? saved->tip : old;
  std::set<std::string> paths;
  for (const auto& from : {reflected, old})
    if (from != tip)
      for (auto& path : repo.changed_paths(from, *tip))
        paths.insert(std::move(path));
  for (const auto& path : settings_.paths)
    paths.erase(path);
  auto record = saved.value_or(sync_record{});
  record.tip = tip;

  std::vector<index_change> staged;
  {
    sync_lock lock{writer_lock_path(repo), options_.lock_wait};
    for (const auto& path : settings_.paths) {
      const auto version = repo.file_at(tip, path);
      staged.push_back({path, {}, version});
      if (mode == sync_mode::hold)
        continue; // the duty's process owns the working file
      auto seen = observe(known_, repo, path, step);
      const auto& file = seen.file;
      if (file.blocked || (file.entry && file.entry->mode == symlink_file))
        git_fail(step, settings_.repo, "synced path '" + path + "' is not a regular file");
      const auto working = id_of(file.entry);
      const auto fresh = id_of(version);
      auto known = record.bases.find(path);
      const auto base =
          known == record.bases.end() ? id_of(repo.file_at(old, path)) : known->second;
      if (working == fresh) {
        record.bases[path] = fresh;
      } else if (working == base) {
        auto text = content_of(repo, version, step);
        if (version && json_path(path) && !scan_json(text).valid()) {
          // Never written into a working file: the next exhale commits the good one over it.
          result.broken.push_back(path + " (theirs)");
          record.bases[path] = base;
          continue;
        }
        put_file(workdir, path, version, text, step, settings_.repo);
        known_.erase(path);
        result.updated.push_back(path);
        record.bases[path] = fresh;
      } else {
        // Written while the breath ran: the next exhale merges it on its base.
        record.bases[path] = base;
        if (fresh != base)
          result.deferred.push_back(path);
      }
    }
    // Removals first, so that a file can replace a directory and the other way round.
    std::vector<std::pair<std::string, std::optional<file_entry>>> wanted;
    for (const auto& path : paths)
      wanted.emplace_back(path, repo.file_at(tip, path));
    std::stable_partition(wanted.begin(), wanted.end(),
                          [](const auto& item) { return !item.second; });
    for (const auto& [path, version] : wanted) {
      if (!repo_relative(path)) { // only a hostile tree holds such a path: never written
        result.kept.push_back(path);
        continue;
      }
      const auto before = repo.file_at(reflected, path);
      const auto previous = repo.file_at(old, path);
      staged.push_back({path, {before, previous}, version});
      auto file = look(workdir + path, step, settings_.repo);
      if (holds(file.entry, version) && !file.blocked)
        continue;
      const bool submodule = version && version->mode == submodule_entry; // not ours to check out
      if (!submodule && !file.blocked &&
          (holds(file.entry, before) || holds(file.entry, previous))) {
        put_file(workdir, path, version, content_of(repo, version, step), step, settings_.repo);
        result.updated.push_back(path);
      } else {
        result.kept.push_back(path);
      }
    }
  }
  settle(repo, staged, record, saved, settings_.repo);
  return result;
}

push_result git_port::push(std::chrono::milliseconds limit) {
  auto& repo = this->repo("push");
  step_mark mark{repo, "push", settings_.repo};
  push_result result;
  auto pending = repo.ahead(settings_.remote, settings_.branch);
  if (pending == 0) {
    result.pushed = true;
    return result;
  }
  try {
    result.pushed = transfer_.push(settings_, limit, transfer_locks(repo, settings_));
  } catch (...) {
    remove_pack_leftovers(repo);
    throw;
  }
  if (result.pushed)
    result.commits = pending;
  return result;
}

uint64_t git_port::ahead() {
  return repo("ahead").ahead(settings_.remote, settings_.branch);
}

void git_port::interrupt() {
  transfer_.interrupt();
}

} // namespace montana
