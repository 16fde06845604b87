#include "actors/json_merge.hpp"

#include "actors/json_scan.hpp"

#include <nlohmann/json.hpp>

#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace montana {

namespace {

/// One side of a merge: a present JSON object (indexed by key), or absent.
struct side {
  bool present = false;
  json_scan scan;
  std::unordered_map<std::string_view, const json_member*> by_key;

  void index() {
    by_key.reserve(scan.members.size());
    for (const auto& m : scan.members)
      by_key[m.key] = &m; // a duplicate key: the last one counts, as for most parsers
  }

  const json_member* find(const std::string& key) const {
    auto it = by_key.find(key);
    return it == by_key.end() ? nullptr : it->second;
  }
};

/// Equality of two possibly absent values: by digest, and as parsed JSON when the digests
/// differ (key order or number spelling).
bool same(const json_member* a, const json_member* b) {
  if (a == nullptr || b == nullptr)
    return a == b;
  if (a->digest == b->digest)
    return true;
  auto x = nlohmann::json::parse(a->value, nullptr, false);
  auto y = nlohmann::json::parse(b->value, nullptr, false);
  return !x.is_discarded() && !y.is_discarded() && x == y;
}

/// Writes members as an object, one per line.
class object_writer {
public:
  void add(std::string_view raw_key, std::string_view value) {
    text_ += text_.empty() ? "{\n  " : ",\n  ";
    text_ += raw_key;
    text_ += ": ";
    text_ += value;
  }
  bool empty() const { return text_.empty(); }
  std::string finish() {
    if (text_.empty())
      return "{}\n";
    text_ += "\n}\n";
    return std::move(text_);
  }

private:
  std::string text_;
};

merge_result merge_opaque(const merge_input& in, const std::optional<std::string>& base,
                          const std::optional<std::string>& ours,
                          const std::optional<std::string>& theirs) {
  merge_result r;
  r.opaque = true;
  if (theirs == base || theirs == ours) {
    r.text = ours; // only ours changed, or both changed alike
    return r;
  }
  if (ours == base) {
    r.text = theirs; // only theirs changed
    return r;
  }
  r.conflict = true;
  const auto& winner = in.prefer_ours ? ours : theirs;
  const auto& loser = in.prefer_ours ? theirs : ours;
  r.text = winner;
  if (loser)
    r.copy = conflict_copy{conflict_copy_path(in.path, in.node, in.utc), *loser};
  return r;
}

merge_result merge_objects(const merge_input& in, const side& base, const side& ours,
                           const side& theirs) {
  merge_result r;
  object_writer merged;
  object_writer copy;
  // Theirs' order first, then keys only ours has; keys only in base can only have been
  // deleted on a side, so they never come first.
  std::unordered_set<std::string_view> seen;
  seen.reserve(theirs.scan.members.size() + ours.scan.members.size() / 8 + 16);
  std::vector<std::string_view> deleted; // raw keys the loser deleted
  std::unordered_set<std::string_view> copied;
  for (const auto* s : {&theirs, &ours, &base}) {
    for (const auto& member : s->scan.members) {
      if (!seen.insert(member.key).second)
        continue;
      const auto* b = base.find(member.key);
      const auto* o = ours.find(member.key);
      const auto* t = theirs.find(member.key);
      const json_member* take = nullptr;
      if (same(o, b)) {
        take = t; // unchanged here: theirs (changed or not)
      } else if (same(t, b) || same(o, t)) {
        take = o; // changed here only, or alike on both sides
      } else {
        // Changed differently on both sides: the winner's value, the loser's kept aside.
        take = in.prefer_ours ? o : t;
        const auto* lost = in.prefer_ours ? t : o;
        r.conflicting_keys.push_back(member.key);
        copied.insert(member.key);
        if (lost) {
          copy.add(lost->raw_key, lost->value);
        } else {
          copy.add(member.raw_key, "null");
          deleted.push_back(member.raw_key);
        }
      }
      if (take)
        merged.add(take->raw_key, take->value);
    }
  }
  bool file_deleted = !ours.present || !theirs.present;
  if (!(merged.empty() && file_deleted))
    r.text = merged.finish();
  if (!r.conflicting_keys.empty()) {
    r.conflict = true;
    if (!deleted.empty()) {
      std::string marker = "_deleted";
      while (copied.count(marker) > 0) // a conflicting key of that name keeps its value
        marker += '_';
      std::string list = "[";
      for (const auto& key : deleted)
        list += (list.size() > 1 ? ", " : "") + std::string{key};
      copy.add("\"" + marker + "\"", list + "]");
    }
    r.copy = conflict_copy{conflict_copy_path(in.path, in.node, in.utc), copy.finish()};
  }
  return r;
}

std::string sanitize(const std::string& part) {
  std::string out = part;
  for (auto& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok)
      c = '_';
  }
  return out;
}

} // namespace

merge_result merge_synced_file(const merge_input& in) {
  if (!json_path(in.path))
    return merge_opaque(in, in.base, in.ours, in.theirs);
  // A side that does not parse is never merged: it counts as unchanged.
  std::vector<std::string> broken;
  auto scanned = [&](const std::optional<std::string>& text, const char* name) {
    std::optional<json_scan> out;
    if (text) {
      out = scan_json(*text);
      if (!out->valid()) {
        broken.emplace_back(name);
        out.reset();
      }
    }
    return out;
  };
  auto base_scan = scanned(in.base, "base");
  auto ours_scan = scanned(in.ours, "ours");
  auto theirs_scan = scanned(in.theirs, "theirs");
  const bool base_broken = in.base && !base_scan;
  // A broken base counts as an empty object that was there.
  const std::optional<std::string> base_text =
      base_broken ? std::optional<std::string>{"{}"} : in.base;
  if (base_broken)
    base_scan = scan_json("{}");
  const bool ours_broken = in.ours && !ours_scan;
  const bool theirs_broken = in.theirs && !theirs_scan;
  if (ours_broken)
    ours_scan = base_scan;
  if (theirs_broken)
    theirs_scan = base_scan;
  const auto& ours_text = ours_broken ? base_text : in.ours;
  const auto& theirs_text = theirs_broken ? base_text : in.theirs;
  merge_result r;
  auto is_object = [](const std::optional<json_scan>& s) {
    return !s || s->kind == json_scan::shape::object;
  };
  if (!is_object(base_scan) || !is_object(ours_scan) || !is_object(theirs_scan)) {
    r = merge_opaque(in, base_text, ours_text, theirs_text);
  } else {
    side sides[3];
    std::optional<json_scan>* scans[3] = {&base_scan, &ours_scan, &theirs_scan};
    for (int i = 0; i < 3; ++i) {
      sides[i].present = scans[i]->has_value();
      if (sides[i].present) {
        sides[i].scan = std::move(**scans[i]);
        sides[i].index();
      }
    }
    r = merge_objects(in, sides[0], sides[1], sides[2]);
  }
  r.broken = std::move(broken);
  return r;
}

std::string conflict_copy_path(const std::string& path, const std::string& node,
                               const std::string& utc) {
  auto slash = path.find_last_of('/');
  auto name_start = slash == std::string::npos ? 0 : slash + 1;
  auto dot = path.find_last_of('.');
  auto ext_start = (dot == std::string::npos || dot <= name_start) ? path.size() : dot;
  return path.substr(0, ext_start) + ".conflict-" + sanitize(node) + "-" + sanitize(utc) +
         path.substr(ext_start);
}

} // namespace montana
