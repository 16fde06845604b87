#include "runtime/git_repo.hpp"

#include "actors/breath_port.hpp"
#include "runtime/git_credentials.hpp"
#include "runtime/ssh_host_key.hpp"

#include <git2.h>
#include <git2/sys/odb_backend.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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
using tree_entry_ptr = git_ptr<git_tree_entry, git_tree_entry_free>;

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

/// Throws a `git_failure` when a libgit2 call returned an error code.
void check(int code, const std::string& operation, const std::string& repo) {
  if (code >= 0)
    return;
  const git_error* last = git_error_last();
  git_fail(operation, repo,
           last && last->message ? last->message : "libgit2 error " + std::to_string(code));
}

std::string hex(const git_oid& id) {
  char text[GIT_OID_HEXSZ + 1];
  git_oid_tostr(text, sizeof text, &id);
  return text;
}

/// The object id spelled by `text`; throws naming the operation when it is not one.
git_oid oid(const std::string& text, const std::string& operation, const std::string& repo) {
  git_oid id;
  if (text.size() != GIT_OID_HEXSZ || git_oid_fromstr(&id, text.c_str()) != 0)
    git_fail(operation, repo, "'" + text + "' is not an object id");
  return id;
}

/// Whether something (a file, a directory, a dangling link) exists at `path`.
bool on_disk(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

/// `path` with "-<n>" before its extension (as `conflict_copy_path` spells extensions).
std::string numbered(const std::string& path, int n) {
  auto slash = path.rfind('/');
  auto name_start = slash == std::string::npos ? 0 : slash + 1;
  auto dot = path.rfind('.');
  if (dot == std::string::npos || dot <= name_start)
    return path + "-" + std::to_string(n);
  return path.substr(0, dot) + "-" + std::to_string(n) + path.substr(dot);
}

/// `wanted`, or the first of its numbered variants `taken` says is free.
template <class Taken>
std::string unique_path(const std::string& wanted, Taken taken) {
  auto candidate = wanted;
  for (int n = 2; taken(candidate); ++n)
    candidate = numbered(wanted, n);
  return candidate;
}

int ssh_port(const std::string& url);

/// What a fetch or push carries through libgit2's callbacks.
struct remote_session {
  remote_session(const breath_credentials& credentials, int port)
      : picker{credentials}, port{port} {}
  credential_picker picker;
  /// The SSH port of the remote's URL.
  int port;
  /// A push refusal decided by the server ("<ref> <status>"); it arrives only through a callback.
  std::string refusal;
  /// Why the SSH host key was refused; libgit2 reports every refusal with one message.
  std::string host_key_problem;
};

/// libgit2's certificate callback: an SSH host key is checked against known_hosts here, so that
/// an unknown key and a changed one give different errors; TLS certificates are left to libgit2.
int check_certificate(git_cert* cert, int, const char* host, void* payload) {
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
    return GIT_PASSTHROUGH;
  auto& session = *static_cast<remote_session*>(payload);
  const auto* hostkey = reinterpret_cast<const git_cert_hostkey*>(cert);
  if (!(hostkey->type & GIT_CERT_SSH_RAW) || hostkey->hostkey == nullptr) {
    session.host_key_problem = "the ssh host key of " + std::string{host} + " is not available";
    return GIT_ECERTIFICATE;
  }
  const auto known_hosts = default_known_hosts();
  // libgit2 does not pass the port: a non-standard port is taken from the URL by the caller.
  try {
    auto verdict = check_host_key(known_hosts, host, session.port,
                                  std::string_view{hostkey->hostkey, hostkey->hostkey_len});
    if (verdict == host_key_verdict::known)
      return 0;
    session.host_key_problem = host_key_problem(verdict, known_hosts, host, session.port);
  } catch (const std::exception& e) {
    session.host_key_problem = e.what();
  }
  return GIT_ECERTIFICATE;
}

/// The port of an ssh:// URL (22 for scp-like URLs and when none is given).
int ssh_port(const std::string& url) {
  if (!url.starts_with("ssh://") && !url.starts_with("git+ssh://") &&
      !url.starts_with("ssh+git://"))
    return 22;
  auto host_start = url.find("://") + 3;
  auto path_start = url.find('/', host_start);
  auto authority = url.substr(host_start, path_start - host_start);
  if (auto at = authority.rfind('@'); at != std::string::npos)
    authority.erase(0, at + 1);
  auto colon = authority.rfind(':');
  if (colon == std::string::npos || authority.find(']', colon) != std::string::npos)
    return 22;
  try {
    return std::stoi(authority.substr(colon + 1));
  } catch (const std::exception&) {
    return 22;
  }
}

/// libgit2's credentials callback: what the picker chooses, or "authentication refused".
int acquire_credential(git_credential** out, const char*, const char* user_from_url,
                       unsigned int allowed, void* payload) {
  auto& picker = static_cast<remote_session*>(payload)->picker;
  try {
    auto answer = picker.pick(user_from_url ? user_from_url : "", allowed);
    if (!answer) {
      git_error_set_str(GIT_ERROR_NET, ("authentication refused: " + picker.refusal()).c_str());
      return GIT_EAUTH;
    }
    switch (answer->type) {
    case credential::kind::username:
      return git_credential_username_new(out, answer->user.c_str());
    case credential::kind::ssh_key:
      return git_credential_ssh_key_new(out, answer->user.c_str(),
                                        answer->public_key.empty() ? nullptr
                                                                   : answer->public_key.c_str(),
                                        answer->private_key.c_str(), nullptr);
    case credential::kind::token:
      return git_credential_userpass_plaintext_new(out, answer->user.c_str(),
                                                   answer->token.c_str());
    }
  } catch (const std::exception& e) {
    git_error_set_str(GIT_ERROR_NET, e.what());
  }
  return GIT_EAUTH;
}

/// Credentials and push-status hooks for one fetch or push.
git_remote_callbacks remote_callbacks(remote_session& session) {
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = acquire_credential;
  callbacks.certificate_check = check_certificate;
  callbacks.push_update_reference = [](const char* ref, const char* status, void* data) {
    if (status)
      static_cast<remote_session*>(data)->refusal = std::string{ref} + " " + status;
    return 0;
  };
  callbacks.payload = &session;
  return callbacks;
}

/// The remote named `remote`; appends its URL to `operation` for the messages that follow.
remote_ptr lookup_remote(git_repository* repo, const std::string& remote, std::string& operation,
                         const std::string& path) {
  git_remote* raw = nullptr;
  check(git_remote_lookup(&raw, repo, remote.c_str()), operation, path);
  remote_ptr found{raw};
  operation += std::string{" ("} + git_remote_url(raw) + ")";
  return found;
}

/// Whether a server's per-ref push status means "fetch and rebase first": the branch moved, or
/// another push was updating it at the same moment (git receive-pack says "failed to update
/// ref" when its compare-and-swap or the ref lock fails).
bool non_fast_forward(const std::string& status) {
  for (const char* hint :
       {"non-fast-forward", "fetch first", "stale info", "failed to update ref", "failed to lock"})
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

/// What an interrupted operation in `state` is called.
std::string operation_name(int state) {
  switch (state) {
  case GIT_REPOSITORY_STATE_MERGE:
    return "merge";
  case GIT_REPOSITORY_STATE_REVERT:
  case GIT_REPOSITORY_STATE_REVERT_SEQUENCE:
    return "revert";
  case GIT_REPOSITORY_STATE_CHERRYPICK:
  case GIT_REPOSITORY_STATE_CHERRYPICK_SEQUENCE:
    return "cherry-pick";
  case GIT_REPOSITORY_STATE_APPLY_MAILBOX:
    return "git am";
  default:
    return "rebase";
  }
}

} // namespace

void git_fail(const std::string& operation, const std::string& repo, const std::string& reason) {
  auto line = without_credentials("git " + operation + " [" + repo + "]: " + reason);
  for (auto& c : line)
    if (c == '\n' || c == '\r' || c == '\t')
      c = ' ';
  while (!line.empty() && line.back() == ' ')
    line.pop_back();
  throw git_failure{line};
}

void git_repo::repository_free::operator()(git_repository* repo) const noexcept {
  git_repository_free(repo);
}

git_repo::git_repo(std::unique_ptr<git_repository, repository_free> repo, std::string path,
                   breath_credentials credentials)
    : repo_{std::move(repo)}, path_{std::move(path)}, credentials_{std::move(credentials)} {}

git_repo::git_repo(git_repo&&) noexcept = default;
git_repo& git_repo::operator=(git_repo&&) noexcept = default;
git_repo::~git_repo() = default;

git_repo git_repo::open(const std::string& path, breath_credentials credentials) {
  ensure_libgit2();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    git_fail("open", path, std::strerror(errno));
  git_repository* raw = nullptr;
  check(git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr), "open",
        path);
  std::unique_ptr<git_repository, repository_free> repo{raw};
  if (git_repository_is_bare(repo.get()))
    git_fail("open", path, "a bare repository has no working tree");
  // Opening only checks that the layout exists; read HEAD, its commit and the index now so a
  // corrupt clone is reported here, once, and not by whichever operation trips over it first.
  git_reference* head_raw = nullptr;
  check(git_reference_lookup(&head_raw, repo.get(), "HEAD"), "open", path);
  reference_ptr head{head_raw};
  if (git_reference_type(head.get()) == GIT_REFERENCE_SYMBOLIC &&
      !std::string_view{git_reference_symbolic_target(head.get())}.starts_with("refs/heads/"))
    git_fail("open", path, "HEAD does not name a branch or a commit");
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
  // New objects are written with zlib's fastest level: a 100 MB users.json deflates several
  // times faster, and any git reads it like every loose object. Added above the default
  // backends, so that writes go here and reads find everything as before.
  git_odb* odb = nullptr;
  check(git_repository_odb(&odb, repo.get()), "open", path);
  std::unique_ptr<git_odb, void (*)(git_odb*)> odb_owner{odb, git_odb_free};
  git_odb_backend* fast = nullptr;
  const std::string objects = std::string{git_repository_commondir(repo.get())} + "objects";
  check(git_odb_backend_loose(&fast, objects.c_str(), 1, 0, 0, 0), "open", path);
  if (auto added = git_odb_add_backend(odb, fast, 3); added < 0) {
    fast->free(fast);
    check(added, "open", path);
  }
  return git_repo{std::move(repo), path, std::move(credentials)};
}

std::string git_repo::workdir() const {
  return git_repository_workdir(repo_.get());
}

std::string git_repo::gitdir() const {
  return git_repository_path(repo_.get());
}

std::string git_repo::commondir() const {
  return git_repository_commondir(repo_.get());
}

std::string git_repo::head_branch() {
  auto* repo = repo_.get();
  if (auto state = git_repository_state(repo); state != GIT_REPOSITORY_STATE_NONE)
    git_fail("check HEAD", path_, "a " + operation_name(state) + " is in progress (repair first)");
  git_reference* raw = nullptr;
  check(git_reference_lookup(&raw, repo, "HEAD"), "check HEAD", path_);
  reference_ptr head{raw};
  if (git_reference_type(head.get()) != GIT_REFERENCE_SYMBOLIC)
    git_fail("check HEAD", path_, "HEAD is detached, not on a branch");
  return git_reference_symbolic_target(head.get());
}

std::optional<std::string> git_repo::tip(const std::string& ref) {
  git_oid id;
  auto code = git_reference_name_to_id(&id, repo_.get(), ref.c_str());
  if (code == GIT_ENOTFOUND)
    return std::nullopt;
  check(code, "resolve " + ref, path_);
  return hex(id);
}

bool git_repo::has_commit(const std::string& id) {
  git_oid parsed;
  if (id.size() != GIT_OID_HEXSZ || git_oid_fromstr(&parsed, id.c_str()) != 0)
    return false;
  git_commit* raw = nullptr;
  if (git_commit_lookup(&raw, repo_.get(), &parsed) != 0)
    return false;
  git_commit_free(raw);
  return true;
}

std::optional<std::string> git_repo::first_parent(const std::string& id) {
  git_oid parsed;
  if (id.size() != GIT_OID_HEXSZ || git_oid_fromstr(&parsed, id.c_str()) != 0)
    return std::nullopt;
  git_commit* raw = nullptr;
  if (git_commit_lookup(&raw, repo_.get(), &parsed) != 0)
    return std::nullopt;
  commit_ptr commit{raw};
  if (git_commit_parentcount(commit.get()) == 0)
    return std::nullopt;
  return hex(*git_commit_parent_id(commit.get(), 0));
}

std::optional<file_entry> git_repo::file_at(const std::optional<std::string>& commit,
                                            const std::string& path) {
  if (!commit)
    return std::nullopt;
  const auto operation = "read " + path + " at " + commit->substr(0, 12);
  auto id = oid(*commit, operation, path_);
  git_commit* commit_raw = nullptr;
  check(git_commit_lookup(&commit_raw, repo_.get(), &id), operation, path_);
  commit_ptr found{commit_raw};
  git_tree* tree_raw = nullptr;
  check(git_commit_tree(&tree_raw, found.get()), operation, path_);
  tree_ptr tree{tree_raw};
  git_tree_entry* entry_raw = nullptr;
  auto code = git_tree_entry_bypath(&entry_raw, tree.get(), path.c_str());
  if (code == GIT_ENOTFOUND)
    return std::nullopt;
  check(code, operation, path_);
  tree_entry_ptr entry{entry_raw};
  if (git_tree_entry_type(entry.get()) == GIT_OBJECT_TREE)
    return std::nullopt; // a directory, not a file
  return file_entry{hex(*git_tree_entry_id(entry.get())),
                    static_cast<uint32_t>(git_tree_entry_filemode(entry.get()))};
}

std::vector<std::string> git_repo::changed_paths(const std::optional<std::string>& from,
                                                 const std::string& to) {
  const auto operation = "compare trees";
  auto* repo = repo_.get();
  auto tree_of = [&](const std::string& commit) {
    auto id = oid(commit, operation, path_);
    git_commit* commit_raw = nullptr;
    check(git_commit_lookup(&commit_raw, repo, &id), operation, path_);
    commit_ptr found{commit_raw};
    git_tree* tree_raw = nullptr;
    check(git_commit_tree(&tree_raw, found.get()), operation, path_);
    return tree_ptr{tree_raw};
  };
  tree_ptr old_tree = from ? tree_of(*from) : nullptr;
  tree_ptr new_tree = tree_of(to);
  git_diff* raw = nullptr;
  check(git_diff_tree_to_tree(&raw, repo, old_tree.get(), new_tree.get(), nullptr), operation,
        path_);
  diff_ptr diff{raw};
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < git_diff_num_deltas(diff.get()); ++i) {
    auto* delta = git_diff_get_delta(diff.get(), i);
    paths.emplace_back(delta->old_file.path);
    paths.emplace_back(delta->new_file.path);
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

std::optional<std::string> git_repo::blob(const std::string& id) {
  auto parsed = oid(id, "read blob", path_);
  git_blob* raw = nullptr;
  auto code = git_blob_lookup(&raw, repo_.get(), &parsed);
  if (code == GIT_ENOTFOUND)
    return std::nullopt;
  check(code, "read blob " + id, path_);
  blob_ptr found{raw};
  return std::string{static_cast<const char*>(git_blob_rawcontent(found.get())),
                     static_cast<std::size_t>(git_blob_rawsize(found.get()))};
}

std::string git_repo::write_blob(const std::string& text) {
  git_oid id;
  check(git_blob_create_from_buffer(&id, repo_.get(), text.data(), text.size()), "write blob",
        path_);
  return hex(id);
}

std::string git_repo::blob_id(const std::string& text) {
  ensure_libgit2();
  git_oid id;
  check(git_odb_hash(&id, text.data(), text.size(), GIT_OBJECT_BLOB), "hash", "-");
  return hex(id);
}

std::optional<std::string> git_repo::commit(const std::optional<std::string>& parent,
                                            const std::vector<file_change>& changes,
                                            const std::string& message,
                                            const std::string& author_name,
                                            const std::string& author_email) {
  auto* repo = repo_.get();
  commit_ptr parent_commit;
  tree_ptr parent_tree;
  if (parent) {
    auto id = oid(*parent, "commit", path_);
    git_commit* raw = nullptr;
    check(git_commit_lookup(&raw, repo, &id), "commit", path_);
    parent_commit.reset(raw);
    git_tree* tree_raw = nullptr;
    check(git_commit_tree(&tree_raw, parent_commit.get()), "commit", path_);
    parent_tree.reset(tree_raw);
  }
  // The tree is built in a scratch index: the clone's own index (what the user staged) stays out.
  git_index* scratch_raw = nullptr;
  check(git_index_new(&scratch_raw), "commit", path_);
  index_ptr scratch{scratch_raw};
  if (parent_tree)
    check(git_index_read_tree(scratch.get(), parent_tree.get()), "commit", path_);
  for (const auto& change : changes) {
    if (!repo_relative(change.path))
      git_fail("commit", path_, "'" + change.path + "' is not a path inside the working tree");
    if (!change.entry) {
      check(git_index_remove_bypath(scratch.get(), change.path.c_str()), "commit " + change.path,
            path_);
      continue;
    }
    git_index_entry entry{};
    entry.mode = change.entry->mode;
    entry.id = oid(change.entry->id, "commit " + change.path, path_);
    entry.path = change.path.c_str();
    check(git_index_add(scratch.get(), &entry), "commit " + change.path, path_);
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
  const git_commit* parents[] = {parent_commit.get()};
  git_oid commit_id;
  check(git_commit_create(&commit_id, repo, nullptr, author.get(), author.get(), nullptr,
                          message.c_str(), tree.get(), parent ? 1 : 0, parents),
        "commit", path_);
  return hex(commit_id);
}

bool git_repo::move_branch(const std::string& branch, const std::string& to,
                           const std::optional<std::string>& from, const std::string& why) {
  const auto operation = "move " + branch;
  auto to_id = oid(to, operation, path_);
  git_reference* raw = nullptr;
  int code;
  if (from) {
    auto from_id = oid(*from, operation, path_);
    code = git_reference_create_matching(&raw, repo_.get(), branch.c_str(), &to_id, 1, &from_id,
                                         why.c_str());
  } else {
    code = git_reference_create(&raw, repo_.get(), branch.c_str(), &to_id, 0, why.c_str());
  }
  if (code == GIT_EMODIFIED || code == GIT_EEXISTS)
    return false;
  check(code, operation, path_);
  reference_ptr moved{raw};
  return true;
}

void git_repo::restage(const std::vector<index_change>& changes) {
  const auto operation = "update index";
  git_index* raw = nullptr;
  check(git_repository_index(&raw, repo_.get()), operation, path_);
  index_ptr index{raw};
  check(git_index_read(index.get(), 1), operation, path_);
  bool changed = false;
  for (const auto& change : changes) {
    std::optional<file_entry> current;
    if (auto* entry = git_index_get_bypath(index.get(), change.path.c_str(), 0))
      current = file_entry{hex(entry->id), entry->mode};
    if (current == change.to ||
        (!change.from.empty() &&
         std::find(change.from.begin(), change.from.end(), current) == change.from.end()))
      continue;
    if (change.to) {
      git_index_entry entry{};
      entry.mode = change.to->mode;
      entry.id = oid(change.to->id, operation, path_);
      entry.path = change.path.c_str();
      check(git_index_add(index.get(), &entry), operation + (" " + change.path), path_);
    } else {
      check(git_index_remove(index.get(), change.path.c_str(), 0), operation, path_);
    }
    changed = true;
  }
  if (changed)
    check(git_index_write(index.get()), operation, path_);
}

std::string git_repo::free_path(const std::string& wanted,
                                const std::optional<std::string>& commit) {
  const auto workdir = this->workdir();
  return unique_path(wanted, [&](const std::string& path) {
    return file_at(commit, path).has_value() || on_disk(workdir + path);
  });
}

rebase_result git_repo::rebase(const std::string& local, const std::string& onto,
                               const std::string& node, const std::string& utc,
                               const resolver& resolve) {
  const auto operation = "rebase";
  auto* repo = repo_.get();
  rebase_result result;
  auto local_id = oid(local, operation, path_);
  auto onto_id = oid(onto, operation, path_);
  if (git_oid_equal(&local_id, &onto_id) ||
      git_graph_descendant_of(repo, &local_id, &onto_id) == 1) {
    result.tip = local; // already on top of `onto`
    return result;
  }
  result.tip = onto;
  if (git_graph_descendant_of(repo, &onto_id, &local_id) == 1)
    return result; // nothing of ours to replay
  std::optional<std::string> base;
  git_oid base_id;
  if (auto code = git_merge_base(&base_id, repo, &local_id, &onto_id); code == 0)
    base = hex(base_id);
  else if (code != GIT_ENOTFOUND)
    check(code, operation, path_);
  // The local commits `onto` lacks: what is folded into the one new commit.
  std::size_t local_commits = 0;
  {
    git_revwalk* raw = nullptr;
    check(git_revwalk_new(&raw, repo), operation, path_);
    revwalk_ptr walk{raw};
    check(git_revwalk_push(walk.get(), &local_id), operation, path_);
    check(git_revwalk_hide(walk.get(), &onto_id), operation, path_);
    git_oid id;
    while (git_revwalk_next(&id, walk.get()) == 0)
      ++local_commits;
  }
  auto text_of = [&](const std::optional<file_entry>& entry) -> std::optional<std::string> {
    if (!entry)
      return std::nullopt;
    auto text = blob(entry->id);
    if (!text)
      git_fail(operation, path_, "blob " + entry->id + " is missing");
    return text;
  };
  const auto workdir = this->workdir();
  std::vector<file_change> changes;
  std::vector<std::string> copies_taken;
  for (const auto& path : changed_paths(base, local)) {
    auto ours = file_at(local, path);
    auto was = file_at(base, path);
    auto theirs = file_at(onto, path);
    if (theirs == was) { // ours alone changed it
      changes.push_back({path, ours});
      continue;
    }
    if (ours == theirs)
      continue; // the same change on both sides
    // Both changed it: the merge rule decides, on the blobs themselves.
    const auto path_operation = std::string{operation} + " " + path;
    merge_input in;
    in.path = path;
    in.base = text_of(was);
    in.ours = text_of(ours);
    in.theirs = text_of(theirs);
    in.node = node;
    in.utc = utc;
    merge_result merged;
    try {
      merged = resolve(in);
    } catch (const git_failure&) {
      throw;
    } catch (const std::exception& e) {
      git_fail(path_operation, path_, e.what());
    }
    in = merge_input{}; // the three versions are not needed any more
    if (merged.text) {
      auto mode = ours ? ours->mode : theirs ? theirs->mode : regular_file;
      changes.push_back({path, file_entry{write_blob(*merged.text), mode}});
    } else {
      changes.push_back({path, std::nullopt});
    }
    if (merged.copy) {
      auto copy = unique_path(merged.copy->path, [&](const std::string& candidate) {
        return file_at(onto, candidate).has_value() || on_disk(workdir + candidate) ||
               std::find(copies_taken.begin(), copies_taken.end(), candidate) != copies_taken.end();
      });
      copies_taken.push_back(copy);
      changes.push_back({copy, file_entry{write_blob(merged.copy->content), regular_file}});
      result.copies.push_back(copy);
    }
    if (merged.conflict)
      result.conflicts.push_back(path);
  }
  // The new commit keeps the newest local commit's author and message; committed now.
  git_commit* raw = nullptr;
  check(git_commit_lookup(&raw, repo, &local_id), operation, path_);
  commit_ptr newest{raw};
  const git_signature* author = git_commit_author(newest.get());
  if (auto id =
          commit(onto, changes, git_commit_message(newest.get()), author->name, author->email)) {
    result.tip = *id;
    result.replayed = local_commits;
  }
  return result;
}

std::string git_repo::remote_url(const std::string& remote) {
  std::string operation = "remote " + remote;
  auto found = lookup_remote(repo_.get(), remote, operation, path_);
  return git_remote_url(found.get());
}

void git_repo::fetch(const std::string& remote, const std::string& branch) {
  auto operation = "fetch " + remote + " " + branch;
  auto origin = lookup_remote(repo_.get(), remote, operation, path_);
  auto spec = "+refs/heads/" + branch + ":refs/remotes/" + remote + "/" + branch;
  char* specs[] = {spec.data()};
  git_strarray refspecs{specs, 1};
  remote_session session{credentials_, ssh_port(git_remote_url(origin.get()))};
  git_fetch_options options;
  git_fetch_options_init(&options, GIT_FETCH_OPTIONS_VERSION);
  options.callbacks = remote_callbacks(session);
  auto code = git_remote_fetch(origin.get(), &refspecs, &options, nullptr);
  if (code < 0 && !session.host_key_problem.empty())
    git_fail(operation, path_, session.host_key_problem);
  check(code, operation, path_);
}

bool git_repo::push(const std::string& remote, const std::string& branch) {
  auto operation = "push " + remote + " " + branch;
  auto origin = lookup_remote(repo_.get(), remote, operation, path_);
  auto spec = "refs/heads/" + branch + ":refs/heads/" + branch;
  char* specs[] = {spec.data()};
  git_strarray refspecs{specs, 1};
  remote_session session{credentials_, ssh_port(git_remote_url(origin.get()))};
  git_push_options options;
  git_push_options_init(&options, GIT_PUSH_OPTIONS_VERSION);
  options.callbacks = remote_callbacks(session);
  auto code = git_remote_push(origin.get(), &refspecs, &options);
  if (code < 0 && !session.host_key_problem.empty())
    git_fail(operation, path_, session.host_key_problem);
  if (code == GIT_ENONFASTFORWARD)
    return false;
  check(code, operation, path_);
  if (session.refusal.empty())
    return true;
  if (non_fast_forward(session.refusal))
    return false;
  git_fail(operation, path_, "refused: " + session.refusal);
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

std::string git_repo::repair() {
  auto* repo = repo_.get();
  const std::string gitdir = git_repository_path(repo);
  auto state = git_repository_state(repo);
  git_index* index_raw = nullptr;
  check(git_repository_index(&index_raw, repo), "repair", path_);
  index_ptr index{index_raw};
  check(git_index_read(index.get(), 0), "repair", path_);
  if (state == GIT_REPOSITORY_STATE_NONE && !git_index_has_conflicts(index.get()))
    return {};
  if (state == GIT_REPOSITORY_STATE_BISECT)
    git_fail("repair", path_, "a bisect is in progress (end it with git bisect reset)");
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
        git_fail("repair", path_, "rebase state without a valid orig-head in " + dir);
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
    git_fail("repair", path_, "HEAD is still detached after aborting");
  return state == GIT_REPOSITORY_STATE_NONE ? "cleared conflicts left in the index"
                                            : "aborted an interrupted " + operation_name(state);
}

} // namespace montana
