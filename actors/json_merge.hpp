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
//   changed      | changed, differ| the winner       | the loser's value (or "_deleted")
//
// The winner of a key both sides changed differently is theirs (the remote), unless
// `prefer_ours`: the breather sets it for the writes of a duty running on this node (the live
// holder's bot owns its data; see git_port.hpp). "Changed" covers added, modified and deleted;
// values compare as JSON (object key order, spacing and number spelling do not matter). An
// absent side is an empty object: an absent base means the file was created on both sides, an
// absent ours/theirs means that side deleted the file (every key deleted). A merged object
// left empty is a deleted file when ours or theirs deleted the file.
//
// A side of a ".json" path that does not parse (a writer caught mid-write, a broken commit) is
// never merged: it counts as unchanged (it is replaced by the base; a broken base by an empty
// object) and is listed in `broken`. So a merge never makes a broken file.
//
// Other paths, and JSON that is not an object, merge OPAQUE: compared as text, a side that
// alone changed it wins; when both changed it differently, the winner's text is kept and the
// loser's whole text goes to the conflict copy.
//
// Nothing is lost: every value ours or theirs introduced is in the result or in the conflict
// copy (the copy is committed next to the file). The merge is linear in the keys: members are
// matched through hash tables and values compared by digest (json_scan.hpp); only values whose
// digests differ on both sides are parsed to compare them as JSON. The result lists the members
// one per line with their values as written.
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
  /// Whether ours wins a key both sides changed differently (theirs does otherwise).
  bool prefer_ours = false;
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
  /// True if the file merged as text (not a ".json" path, or JSON that is not an object).
  bool opaque = false;
  /// The sides of a ".json" path that did not parse and were merged as unchanged: "base",
  /// "ours", "theirs".
  std::vector<std::string> broken;
  /// True if both sides changed the same key (or the opaque file) differently.
  bool conflict = false;
  /// Top-level keys changed differently on both sides, in result order (JSON objects only).
  std::vector<std::string> conflicting_keys;
  /// The losing side's version of what conflicted; absent when there is nothing of it to keep
  /// (no conflict, or an opaque file the loser deleted).
  ///
  /// For JSON objects: an object holding each conflicting key with the loser's value; a key
  /// the loser deleted has the value null and is also listed in a top-level "_deleted" array
  /// (present only if it deleted some), which tells a deletion from an explicit null; should
  /// a conflicting key itself be named "_deleted", the marker gets '_' appended until free.
  /// For opaque files: the loser's whole text, verbatim.
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
