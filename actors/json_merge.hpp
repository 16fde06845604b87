// The merge rule the breather applies when a rebase conflicts on a synced file:
// pure, no CAF, no git, no I/O, no clock (the caller passes node name and time).
//
// Both synced files are JSON objects keyed by id (data/users.json by Telegram
// user id, node_crypto/nodes.json by node address), so they merge per top-level
// key against the common ancestor (base):
//
//   ours vs base | theirs vs base | result           | conflict copy
//   -------------+----------------+------------------+----------------------
//   same         | same           | base             | -
//   changed      | same           | ours             | -
//   same         | changed        | theirs           | -
//   changed      | changed, equal | theirs (= ours)  | -
//   changed      | changed, differ| theirs           | ours (or "_deleted")
//
// "Changed" covers added, modified and deleted; values compare as JSON (object
// key order and number spelling do not matter). An absent side is an empty
// object: an absent base means the file was created on both sides, an absent
// ours/theirs means that side deleted the file (every key deleted). A merged
// object left empty is a deleted file when ours or theirs deleted the file.
//
// Any present side that is not a JSON object (invalid text, array, too deeply
// nested) makes the file OPAQUE: compared as text, a side that alone changed it
// wins; when both changed it differently, theirs wins and our whole text goes to
// the conflict copy. Invalid JSON is data, never an exception.
//
// Nothing is lost: every value ours or theirs introduced is in the result or in
// the conflict copy (the copy is committed next to the file).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace montana {

/// One synced file at a rebase conflict; `nullopt` = the file does not exist on that side.
struct merge_input {
  std::string path;                  ///< Repository-relative path, names the conflict copy.
  std::optional<std::string> base;   ///< Common ancestor; nullopt = created on both sides.
  std::optional<std::string> ours;   ///< Local version; nullopt = deleted locally.
  std::optional<std::string> theirs; ///< Remote version; nullopt = deleted remotely.
  std::string node;                  ///< This node's name, for the conflict copy's name.
  std::string utc;                   ///< UTC time such as "20261122T004512Z", ditto.
};

/// A file the caller must write next to the merged one: repository-relative path and content.
struct conflict_copy {
  std::string path;
  std::string content;
};

/// What to write for one synced file.
struct merge_result {
  /// The merged file content; nullopt = the file must be deleted.
  std::optional<std::string> text;
  /// True if some present side was not a JSON object and the file merged as text.
  bool opaque = false;
  /// True if both sides changed the same key (or the opaque file) differently.
  bool conflict = false;
  /// Top-level keys changed differently on both sides, in result order (JSON objects only).
  std::vector<std::string> conflicting_keys;
  /// Our version of what lost the conflict; absent when there is nothing of ours to keep
  /// (no conflict, or an opaque file we deleted).
  ///
  /// For JSON objects: an object holding each conflicting key with our value; a key we
  /// deleted has the value null and is also listed in a top-level "_deleted" array
  /// (present only if we deleted some), which tells a deletion from an explicit null; should
  /// a conflicting key itself be named "_deleted", the marker gets '_' appended until free.
  /// For opaque files: our whole text, verbatim.
  std::optional<conflict_copy> copy;
};

/// Merges one synced file three ways. Never throws on bad content; deterministic.
merge_result merge_synced_file(const merge_input& in);

/// The conflict copy's path: `<dir>/<stem>.conflict-<node>-<utc><ext>`, where `<ext>` is the
/// file name's last extension including the dot (none if the name has no dot or only a
/// leading one), e.g. "data/users.json" -> "data/users.conflict-moscow-20261122T004512Z.json",
/// ".env" -> ".env.conflict-moscow-20261122T004512Z". In `node` and `utc` every character
/// other than [A-Za-z0-9_.-] becomes '_', so the copy always lands next to the file.
std::string conflict_copy_path(const std::string& path, const std::string& node,
                               const std::string& utc);

} // namespace montana
