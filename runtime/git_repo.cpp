#include "runtime/git_repo.hpp"

#include <git2.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <sys/stat.h>

namespace montana {

namespace {

/// libgit2 is initialised once per process, on first use, and shut down at exit.
void ensure_libgit2() {
  struct session {
    session() { git_libgit2_init(); }
    ~session() { git_libgit2_shutdown(); }
  };
  static session instance;
}

/// Frees one libgit2 object with its git_*_free.
template <class T, auto Free>
struct git_free {
  void operator()(T* object) const noexcept { Free(object); }
};

/// Owns one libgit2 object.
template <class T, auto Free>
using git_ptr = std::unique_ptr<T, git_free<T, Free>>;

using annotated_ptr = git_ptr<git_annotated_commit, git_annotated_commit_free>;
using blob_ptr = git_ptr<git_blob, git_blob_free>;
using commit_ptr = git_ptr<git_commit, git_commit_free>;
using diff_ptr = git_ptr<git_diff, git_diff_free>;
using index_ptr = git_ptr<git_index, git_index_free>;
using iterator_ptr = git_ptr<git_index_conflict_iterator, git_index_conflict_iterator_free>;
using rebase_ptr = git_ptr<git_rebase, git_rebase_free>;
using reference_ptr = git_ptr<git_reference, git_reference_free>;
using remote_ptr = git_ptr<git_remote, git_remote_free>;
using revwalk_ptr = git_ptr<git_revwalk, git_revwalk_free>;
using signature_ptr = git_ptr<git_signature, git_signature_free>;
using tree_ptr = git_ptr<git_tree, git_tree_free>;

/// Drops "user:secret@" from every URL in `text`: libgit2 messages may quote remote URLs.
std::string without_credentials(std::string text) {
  for (auto scheme = text.find("://"); scheme != std::string::npos;
       scheme = text.find("://", scheme + 3)) {
    auto start = scheme + 3;
    auto end = text.find_first_of("/ \t'\"", start);
    auto at = text.find('@', start);
    if (at != std::string::npos && (end == std::string::npos || at < end))
      text.erase(start, at + 1 - start);
  }
  return text;
}

/// Throws the last libgit2 error of this thread as one line.
[[noreturn]] void fail(const std::string& operation, const std::string& repo,
                       const std::string& reason) {
  auto line = without_credentials("git " + operation + " [" + repo + "]: " + reason);
  for (auto& c : line)
    if (c == '\n' || c == '\r' || c == '\t')
      c = ' ';
  while (!line.empty() && line.back() == ' ')
    line.pop_back();
  throw git_failure{line};
}

/// Throws a `git_failure` when a libgit2 call returned an error code.
void check(int code, const std::string& operation, const std::string& repo) {
  if (code >= 0)
    return;
  const git_error* last = git_error_last();
  fail(operation, repo,
       last && last->message ? last->message : "libgit2 error " + std::to_string(code));
}

/// A path relative to the working tree that cannot escape it or touch `.git`.
bool safe_relative(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.back() == '/')
    return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos)
      end = path.size();
    auto part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part == ".git")
      return false;
    start = end + 1;
  }
  return true;
}

/// Index entry for the working-tree file `path`, stat taken before the content is hashed so
/// that a write landing in between makes git re-hash instead of trusting a stale entry.
git_index_entry workdir_entry(git_repository* repo, const std::string& workdir,
                              const std::string& path, const struct stat& st,
                              const std::string& repo_path) {
  git_index_entry entry{};
  entry.ctime.seconds = static_cast<int32_t>(st.st_ctim.tv_sec);
  entry.ctime.nanoseconds = static_cast<uint32_t>(st.st_ctim.tv_nsec);
  entry.mtime.seconds = static_cast<int32_t>(st.st_mtim.tv_sec);
  entry.mtime.nanoseconds = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  entry.dev = static_cast<uint32_t>(st.st_dev);
  entry.ino = static_cast<uint32_t>(st.st_ino);
  entry.uid = st.st_uid;
  entry.gid = st.st_gid;
  entry.file_size = static_cast<uint32_t>(st.st_size);
  if (S_ISLNK(st.st_mode))
    entry.mode = GIT_FILEMODE_LINK;
  else if (S_ISREG(st.st_mode))
    entry.mode = (st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
  else
    fail("commit", repo_path, "'" + workdir + path + "' is not a file");
  check(git_blob_create_from_workdir(&entry.id, repo, path.c_str()), "commit " + path, repo_path);
  entry.path = path.c_str();
  return entry;
}

/// Credentials and progress hooks for a remote (none needed for local remotes yet).
git_remote_callbacks remote_callbacks() {
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  return callbacks;
}

/// Whether a server's per-ref push status means "fetch and rebase first".
bool non_fast_forward(const std::string& status) {
  for (const char* hint : {"non-fast-forward", "fetch first", "stale info"})
    if (status.find(hint) != std::string::npos)
      return true;
  return false;
}

/// The first line of `<gitdir>/<name>`, empty when it is missing.
std::string read_state_file(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.pop_back();
  return line;
}

/// One path left conflicted by a rebase step, copied out of the index before it changes.
struct conflicted_path {
  std::string path;
  std::optional<git_oid> ancestor;
  std::optional<git_oid> ours;   // libgit2's "ours" in a rebase: the upstream side
  std::optional<git_oid> theirs; // libgit2's "theirs" in a rebase: the commit being replayed
};

/// `path` with "-<n>" before its extension (as `conflict_copy_path` spells extensions).
std::string numbered(const std::string& path, int n) {
  auto slash = path.rfind('/');
  auto name_start = slash == std::string::npos ? 0 : slash + 1;
  auto dot = path.rfind('.');
  if (dot == std::string::npos || dot <= name_start)
    return path + "-" + std::to_string(n);
  return path.substr(0, dot) + "-" + std::to_string(n) + path.substr(dot);
}

} // namespace

void git_repo::repository_free::operator()(git_repository* repo) const noexcept {
  git_repository_free(repo);
}

git_repo::git_repo(std::unique_ptr<git_repository, repository_free> repo, std::string path)
    : repo_{std::move(repo)}, path_{std::move(path)} {}

git_repo::git_repo(git_repo&&) noexcept = default;
git_repo& git_repo::operator=(git_repo&&) noexcept = default;
git_repo::~git_repo() = default;

git_repo git_repo::open(const std::string& path) {
  ensure_libgit2();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    fail("open", path, std::strerror(errno));
  git_repository* raw = nullptr;
  check(git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr), "open",
        path);
  std::unique_ptr<git_repository, repository_free> repo{raw};
  if (git_repository_is_bare(repo.get()))
    fail("open", path, "a bare repository has no working tree");
  // Opening only checks that the layout exists; read HEAD, its commit and the index now so a
  // corrupt clone is reported here, once, and not by whichever operation trips over it first.
  git_reference* head_raw = nullptr;
  check(git_reference_lookup(&head_raw, repo.get(), "HEAD"), "open", path);
  reference_ptr head{head_raw};
  if (git_reference_type(head.get()) == GIT_REFERENCE_SYMBOLIC &&
      !std::string_view{git_reference_symbolic_target(head.get())}.starts_with("refs/heads/"))
    fail("open", path, "HEAD does not name a branch or a commit");
  if (!git_repository_head_unborn(repo.get())) {
    git_oid id;
    check(git_reference_name_to_id(&id, repo.get(), "HEAD"), "open", path);
    git_commit* commit_raw = nullptr;
    check(git_commit_lookup(&commit_raw, repo.get(), &id), "open", path);
    commit_ptr commit{commit_raw};
  }
  git_index* index_raw = nullptr;
  check(git_repository_index(&index_raw, repo.get()), "open", path);
  index_ptr index{index_raw};
  return git_repo{std::move(repo), path};
}

std::optional<std::string> git_repo::commit_paths(const std::vector<std::string>& paths,
                                                  const std::string& message,
                                                  const std::string& author_name,
                                                  const std::string& author_email) {
  auto* repo = repo_.get();
  if (git_repository_state(repo) != GIT_REPOSITORY_STATE_NONE)
    fail("commit", path_, "a rebase or merge is in progress (repair first)");
  if (git_repository_head_detached(repo) == 1)
    fail("commit", path_, "HEAD is detached, not on a branch");
  const std::string workdir = git_repository_workdir(repo);
  // The new tree is HEAD's tree plus the listed paths, built in an in-memory index: whatever
  // is staged in the clone's own index stays out of the commit.
  commit_ptr parent;
  tree_ptr parent_tree;
  if (!git_repository_head_unborn(repo)) {
    git_oid head_id;
    check(git_reference_name_to_id(&head_id, repo, "HEAD"), "commit", path_);
    git_commit* raw = nullptr;
    check(git_commit_lookup(&raw, repo, &head_id), "commit", path_);
    parent.reset(raw);
    git_tree* tree_raw = nullptr;
    check(git_commit_tree(&tree_raw, parent.get()), "commit", path_);
    parent_tree.reset(tree_raw);
  }
  git_index* scratch_raw = nullptr;
  check(git_index_new(&scratch_raw), "commit", path_);
  index_ptr scratch{scratch_raw};
  if (parent_tree)
    check(git_index_read_tree(scratch.get(), parent_tree.get()), "commit", path_);
  std::vector<std::optional<git_index_entry>> entries; // nullopt: deleted
  entries.reserve(paths.size());
  for (const auto& path : paths) {
    if (!safe_relative(path))
      fail("commit", path_, "'" + path + "' is not a path inside the working tree");
    struct stat st {};
    if (::lstat((workdir + path).c_str(), &st) != 0) {
      if (errno != ENOENT && errno != ENOTDIR)
        fail("commit", path_, "'" + path + "': " + std::strerror(errno));
      check(git_index_remove_bypath(scratch.get(), path.c_str()), "commit " + path, path_);
      entries.emplace_back(std::nullopt);
      continue;
    }
    auto entry = workdir_entry(repo, workdir, path, st, path_);
    check(git_index_add(scratch.get(), &entry), "commit " + path, path_);
    entries.emplace_back(entry);
  }
  git_oid tree_id;
  check(git_index_write_tree_to(&tree_id, scratch.get(), repo), "commit", path_);
  if (parent_tree ? git_oid_equal(&tree_id, git_tree_id(parent_tree.get()))
                  : git_index_entrycount(scratch.get()) == 0)
    return std::nullopt;
  git_tree* tree_raw = nullptr;
  check(git_tree_lookup(&tree_raw, repo, &tree_id), "commit", path_);
  tree_ptr tree{tree_raw};
  git_signature* author_raw = nullptr;
  check(git_signature_now(&author_raw, author_name.c_str(), author_email.c_str()), "commit", path_);
  signature_ptr author{author_raw};
  const git_commit* parents[] = {parent.get()};
  git_oid commit_id;
  check(git_commit_create(&commit_id, repo, "HEAD", author.get(), author.get(), nullptr,
                          message.c_str(), tree.get(), parent ? 1 : 0, parents),
        "commit", path_);
  // The clone's index now agrees with the commit for the listed paths (and only those), so
  // `git status` does not show them as reverted.
  git_index* index_raw = nullptr;
  check(git_repository_index(&index_raw, repo), "commit: update index", path_);
  index_ptr index{index_raw};
  check(git_index_read(index.get(), 0), "commit: update index", path_);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (entries[i])
      check(git_index_add(index.get(), &*entries[i]), "commit: update index", path_);
    else
      check(git_index_remove_bypath(index.get(), paths[i].c_str()), "commit: update index", path_);
  }
  check(git_index_write(index.get()), "commit: update index", path_);
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &commit_id);
  return std::string{hex};
}

void git_repo::fetch(const std::string& remote, const std::string& branch) {
  const auto operation = "fetch " + remote + " " + branch;
  git_remote* raw = nullptr;
  check(git_remote_lookup(&raw, repo_.get(), remote.c_str()), operation, path_);
  remote_ptr origin{raw};
  auto spec = "+refs/heads/" + branch + ":refs/remotes/" + remote + "/" + branch;
  char* specs[] = {spec.data()};
  git_strarray refspecs{specs, 1};
  git_fetch_options options;
  git_fetch_options_init(&options, GIT_FETCH_OPTIONS_VERSION);
  options.callbacks = remote_callbacks();
  check(git_remote_fetch(origin.get(), &refspecs, &options, nullptr), operation, path_);
}

bool git_repo::push(const std::string& remote, const std::string& branch) {
  const auto operation = "push " + remote + " " + branch;
  git_remote* raw = nullptr;
  check(git_remote_lookup(&raw, repo_.get(), remote.c_str()), operation, path_);
  remote_ptr origin{raw};
  auto spec = "refs/heads/" + branch + ":refs/heads/" + branch;
  char* specs[] = {spec.data()};
  git_strarray refspecs{specs, 1};
  git_push_options options;
  git_push_options_init(&options, GIT_PUSH_OPTIONS_VERSION);
  options.callbacks = remote_callbacks();
  // A refusal decided by the server only arrives here, not as an error code.
  std::string refusal;
  options.callbacks.payload = &refusal;
  options.callbacks.push_update_reference = [](const char* ref, const char* status, void* data) {
    if (status)
      *static_cast<std::string*>(data) = std::string{ref} + " " + status;
    return 0;
  };
  auto code = git_remote_push(origin.get(), &refspecs, &options);
  if (code == GIT_ENONFASTFORWARD)
    return false;
  check(code, operation, path_);
  if (refusal.empty())
    return true;
  if (non_fast_forward(refusal))
    return false;
  fail(operation, path_, "refused: " + refusal);
}

std::pair<std::size_t, std::size_t> git_repo::distance(const std::string& remote,
                                                       const std::string& branch) {
  const auto operation = "compare " + branch + " with " + remote + "/" + branch;
  auto* repo = repo_.get();
  auto resolve = [&](const std::string& name) -> std::optional<git_oid> {
    git_oid id;
    auto code = git_reference_name_to_id(&id, repo, name.c_str());
    if (code == GIT_ENOTFOUND)
      return std::nullopt;
    check(code, operation, path_);
    return id;
  };
  auto count = [&](const git_oid& tip) {
    git_revwalk* raw = nullptr;
    check(git_revwalk_new(&raw, repo), operation, path_);
    revwalk_ptr walk{raw};
    check(git_revwalk_push(walk.get(), &tip), operation, path_);
    std::size_t n = 0;
    git_oid id;
    int code;
    while ((code = git_revwalk_next(&id, walk.get())) == 0)
      ++n;
    if (code != GIT_ITEROVER)
      check(code, operation, path_);
    return n;
  };
  auto local = resolve("refs/heads/" + branch);
  auto upstream = resolve("refs/remotes/" + remote + "/" + branch);
  if (local && upstream) {
    std::size_t ahead = 0;
    std::size_t behind = 0;
    check(git_graph_ahead_behind(&ahead, &behind, repo, &*local, &*upstream), operation, path_);
    return {ahead, behind};
  }
  return {local ? count(*local) : 0, upstream ? count(*upstream) : 0};
}

std::size_t git_repo::ahead(const std::string& remote, const std::string& branch) {
  return distance(remote, branch).first;
}

std::size_t git_repo::behind(const std::string& remote, const std::string& branch) {
  return distance(remote, branch).second;
}

bool git_repo::repair() {
  auto* repo = repo_.get();
  const std::string gitdir = git_repository_path(repo);
  auto state = git_repository_state(repo);
  git_index* index_raw = nullptr;
  check(git_repository_index(&index_raw, repo), "repair", path_);
  index_ptr index{index_raw};
  check(git_index_read(index.get(), 0), "repair", path_);
  if (state == GIT_REPOSITORY_STATE_NONE && !git_index_has_conflicts(index.get()))
    return false;
  if (state == GIT_REPOSITORY_STATE_BISECT)
    fail("repair", path_, "a bisect is in progress (end it with git bisect reset)");
  const bool rebasing = state == GIT_REPOSITORY_STATE_REBASE ||
                        state == GIT_REPOSITORY_STATE_REBASE_INTERACTIVE ||
                        state == GIT_REPOSITORY_STATE_REBASE_MERGE ||
                        state == GIT_REPOSITORY_STATE_APPLY_MAILBOX_OR_REBASE;
  if (rebasing) {
    git_rebase_options options;
    git_rebase_options_init(&options, GIT_REBASE_OPTIONS_VERSION);
    git_rebase* raw = nullptr;
    if (git_rebase_open(&raw, repo, &options) == 0) {
      rebase_ptr rebase{raw};
      check(git_rebase_abort(rebase.get()), "repair: abort rebase", path_);
    } else {
      // libgit2 opens only its own rebases; one left by the git CLI (sequencer state, or the
      // apply backend) is undone the same way by hand: branch back to orig-head, hard reset.
      auto dir = gitdir + "rebase-merge/";
      if (read_state_file(dir + "orig-head").empty())
        dir = gitdir + "rebase-apply/";
      auto head_name = read_state_file(dir + "head-name");
      auto orig_head = read_state_file(dir + "orig-head");
      git_oid id;
      if (git_oid_fromstr(&id, orig_head.c_str()) != 0)
        fail("repair", path_, "rebase state without a valid orig-head in " + dir);
      git_commit* commit_raw = nullptr;
      check(git_commit_lookup(&commit_raw, repo, &id), "repair: abort rebase", path_);
      commit_ptr commit{commit_raw};
      if (head_name.starts_with("refs/heads/")) {
        git_reference* ref_raw = nullptr;
        check(
            git_reference_create(&ref_raw, repo, head_name.c_str(), &id, 1, "repair: abort rebase"),
            "repair: abort rebase", path_);
        reference_ptr ref{ref_raw};
        check(git_repository_set_head(repo, head_name.c_str()), "repair: abort rebase", path_);
      } else {
        check(git_repository_set_head_detached(repo, &id), "repair: abort rebase", path_);
      }
      git_checkout_options checkout;
      git_checkout_options_init(&checkout, GIT_CHECKOUT_OPTIONS_VERSION);
      checkout.checkout_strategy = GIT_CHECKOUT_FORCE;
      check(git_reset(repo, reinterpret_cast<git_object*>(commit.get()), GIT_RESET_HARD, &checkout),
            "repair: abort rebase", path_);
    }
  } else {
    // Like `git reset --merge`: every path the merge touched (conflicted, or staged apart from
    // HEAD) goes back to HEAD in the index and the working tree; other local changes stay.
    std::vector<std::string> touched;
    git_index_conflict_iterator* it_raw = nullptr;
    check(git_index_conflict_iterator_new(&it_raw, index.get()), "repair", path_);
    iterator_ptr it{it_raw};
    const git_index_entry *ancestor, *ours, *theirs;
    while (git_index_conflict_next(&ancestor, &ours, &theirs, it.get()) == 0)
      for (auto* entry : {ancestor, ours, theirs})
        if (entry)
          touched.emplace_back(entry->path);
    git_oid head_id;
    check(git_reference_name_to_id(&head_id, repo, "HEAD"), "repair", path_);
    git_commit* commit_raw = nullptr;
    check(git_commit_lookup(&commit_raw, repo, &head_id), "repair", path_);
    commit_ptr head{commit_raw};
    git_tree* tree_raw = nullptr;
    check(git_commit_tree(&tree_raw, head.get()), "repair", path_);
    tree_ptr tree{tree_raw};
    git_diff* diff_raw = nullptr;
    check(git_diff_tree_to_index(&diff_raw, repo, tree.get(), index.get(), nullptr), "repair",
          path_);
    diff_ptr diff{diff_raw};
    for (std::size_t i = 0; i < git_diff_num_deltas(diff.get()); ++i) {
      auto* delta = git_diff_get_delta(diff.get(), i);
      touched.emplace_back(delta->old_file.path);
      touched.emplace_back(delta->new_file.path);
    }
    std::vector<char*> raw_paths;
    for (auto& path : touched)
      raw_paths.push_back(path.data());
    git_strarray pathspec{raw_paths.data(), raw_paths.size()};
    if (!touched.empty()) {
      git_checkout_options checkout;
      git_checkout_options_init(&checkout, GIT_CHECKOUT_OPTIONS_VERSION);
      checkout.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
      checkout.paths = pathspec;
      check(git_checkout_head(repo, &checkout), "repair: restore merged paths", path_);
      check(git_reset_default(repo, reinterpret_cast<git_object*>(head.get()), &pathspec),
            "repair: restore merged paths", path_);
    }
    check(git_index_read(index.get(), 0), "repair", path_);
    check(git_index_conflict_cleanup(index.get()), "repair", path_);
    check(git_index_write(index.get()), "repair", path_);
  }
  check(git_repository_state_cleanup(repo), "repair: clean state", path_);
  if (git_repository_head_detached(repo) == 1)
    fail("repair", path_, "HEAD is still detached after aborting");
  return true;
}

rebase_result git_repo::rebase(const std::string& remote, const std::string& branch,
                               const std::string& node, const std::string& utc,
                               const resolver& resolve) {
  const auto operation = "rebase on " + remote + "/" + branch;
  auto* repo = repo_.get();
  if (git_repository_state(repo) != GIT_REPOSITORY_STATE_NONE)
    fail(operation, path_, "a rebase or merge is in progress (repair first)");
  if (git_repository_head_detached(repo) == 1)
    fail(operation, path_, "HEAD is detached, not on a branch");
  if (git_repository_head_unborn(repo) == 1)
    fail(operation, path_, "the current branch has no commit yet");
  rebase_result result;
  git_oid local;
  check(git_reference_name_to_id(&local, repo, "HEAD"), operation, path_);
  git_reference* upstream_raw = nullptr;
  auto code =
      git_reference_lookup(&upstream_raw, repo, ("refs/remotes/" + remote + "/" + branch).c_str());
  if (code == GIT_ENOTFOUND)
    return result; // nothing on the remote yet: nothing to rebase onto
  check(code, operation, path_);
  reference_ptr upstream_ref{upstream_raw};
  const git_oid* upstream_id = git_reference_target(upstream_ref.get());
  if (!upstream_id)
    fail(operation, path_, "the remote-tracking branch is not a direct reference");
  if (git_oid_equal(&local, upstream_id) || git_graph_descendant_of(repo, &local, upstream_id) == 1)
    return result; // already on top of the remote branch
  git_annotated_commit* upstream_raw_commit = nullptr;
  check(git_annotated_commit_from_ref(&upstream_raw_commit, repo, upstream_ref.get()), operation,
        path_);
  annotated_ptr upstream{upstream_raw_commit};
  const std::string workdir = git_repository_workdir(repo);

  git_rebase_options options;
  git_rebase_options_init(&options, GIT_REBASE_OPTIONS_VERSION);
  git_rebase* rebase_raw = nullptr;
  code = git_rebase_init(&rebase_raw, repo, nullptr, upstream.get(), nullptr, &options);
  if (code < 0 && git_repository_state(repo) != GIT_REPOSITORY_STATE_NONE) {
    const git_error* last = git_error_last();
    std::string reason = last && last->message ? last->message : "libgit2 error";
    repair(); // a half-started rebase: undo it before reporting
    fail(operation, path_, reason);
  }
  check(code, operation, path_);
  rebase_ptr rebase{rebase_raw};

  auto blob_text = [&](const std::optional<git_oid>& id) -> std::optional<std::string> {
    if (!id)
      return std::nullopt;
    git_blob* raw = nullptr;
    check(git_blob_lookup(&raw, repo, &*id), operation, path_);
    blob_ptr blob{raw};
    return std::string{static_cast<const char*>(git_blob_rawcontent(blob.get())),
                       static_cast<std::size_t>(git_blob_rawsize(blob.get()))};
  };
  auto write = [&](const std::string& path, const std::string& text) {
    if (!safe_relative(path))
      fail(operation, path_, "'" + path + "' is not a path inside the working tree");
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path{workdir + path}.parent_path(), ec);
    std::ofstream out{workdir + path, std::ios::binary | std::ios::trunc};
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out)
      fail(operation, path_, "cannot write '" + path + "'");
  };

  try {
    git_rebase_operation* step = nullptr;
    while ((code = git_rebase_next(&step, rebase.get())) == 0) {
      const auto step_operation = operation + ": replay";
      git_index* index_raw = nullptr;
      check(git_repository_index(&index_raw, repo), step_operation, path_);
      index_ptr index{index_raw};
      if (git_index_has_conflicts(index.get())) {
        std::vector<conflicted_path> conflicted;
        {
          git_index_conflict_iterator* it_raw = nullptr;
          check(git_index_conflict_iterator_new(&it_raw, index.get()), step_operation, path_);
          iterator_ptr it{it_raw};
          const git_index_entry *ancestor, *ours, *theirs;
          while ((code = git_index_conflict_next(&ancestor, &ours, &theirs, it.get())) == 0) {
            conflicted_path entry;
            for (auto* e : {ancestor, ours, theirs})
              if (e && entry.path.empty())
                entry.path = e->path;
            if (ancestor)
              entry.ancestor = ancestor->id;
            if (ours)
              entry.ours = ours->id;
            if (theirs)
              entry.theirs = theirs->id;
            conflicted.push_back(std::move(entry));
          }
          if (code != GIT_ITEROVER)
            check(code, step_operation, path_);
        }
        for (const auto& conflict : conflicted) {
          merge_input in;
          in.path = conflict.path;
          in.base = blob_text(conflict.ancestor);
          in.ours = blob_text(conflict.theirs); // the local commit being replayed
          in.theirs = blob_text(conflict.ours); // the remote branch we rebase onto
          in.node = node;
          in.utc = utc;
          merge_result merged = resolve(in);
          if (merged.text) {
            write(conflict.path, *merged.text);
            check(git_index_add_bypath(index.get(), conflict.path.c_str()),
                  step_operation + " " + conflict.path, path_);
          } else {
            std::error_code ec;
            std::filesystem::remove(workdir + conflict.path, ec);
            if (ec)
              fail(step_operation, path_, "cannot remove '" + conflict.path + "': " + ec.message());
            check(git_index_remove_bypath(index.get(), conflict.path.c_str()),
                  step_operation + " " + conflict.path, path_);
          }
          if (merged.copy) {
            auto copy_path = merged.copy->path;
            for (int n = 2; std::filesystem::exists(workdir + copy_path) ||
                            git_index_get_bypath(index.get(), copy_path.c_str(), 0);
                 ++n)
              copy_path = numbered(merged.copy->path, n);
            write(copy_path, merged.copy->content);
            check(git_index_add_bypath(index.get(), copy_path.c_str()),
                  step_operation + " " + copy_path, path_);
            result.copies.push_back(copy_path);
          }
          if (std::find(result.conflicts.begin(), result.conflicts.end(), conflict.path) ==
              result.conflicts.end())
            result.conflicts.push_back(conflict.path);
        }
        check(git_index_write(index.get()), step_operation, path_);
        if (git_index_has_conflicts(index.get()))
          fail(step_operation, path_, "conflicts remain after resolving");
      }
      // The replayed commit keeps its author; its committer is the same identity, now.
      git_commit* original_raw = nullptr;
      check(git_commit_lookup(&original_raw, repo, &step->id), step_operation, path_);
      commit_ptr original{original_raw};
      const git_signature* author = git_commit_author(original.get());
      git_signature* committer_raw = nullptr;
      check(git_signature_now(&committer_raw, author->name, author->email), step_operation, path_);
      signature_ptr committer{committer_raw};
      git_oid id;
      code = git_rebase_commit(&id, rebase.get(), nullptr, committer.get(), nullptr, nullptr);
      if (code == GIT_EAPPLIED)
        continue; // the remote has this change already
      check(code, step_operation, path_);
      ++result.replayed;
    }
    if (code != GIT_ITEROVER)
      check(code, operation, path_);
    check(git_rebase_finish(rebase.get(), nullptr), operation + ": finish", path_);
  } catch (...) {
    // Never leave the clone mid-rebase: back to the local commits, then report.
    std::string reason = "unknown exception";
    bool from_git = false;
    try {
      throw;
    } catch (const git_failure& e) {
      reason = e.what();
      from_git = true;
    } catch (const std::exception& e) {
      reason = e.what();
    } catch (...) {
    }
    if (git_rebase_abort(rebase.get()) < 0) {
      try {
        repair();
      } catch (const std::exception& second) {
        reason += "; abort failed too: " + std::string{second.what()};
      }
    }
    if (from_git)
      throw git_failure{reason};
    fail(operation, path_, "aborted: " + reason);
  }
  return result;
}

} // namespace montana
