#include "actors/json_merge.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <set>
#include <string_view>

namespace montana {

namespace {

using ojson = nlohmann::ordered_json;

/// Deeper input is treated as opaque: parsing, comparing and dumping all recurse.
constexpr std::size_t max_depth = 256;

/// Bracket nesting depth of a JSON text, skipping strings; a cheap guard before parsing.
std::size_t nesting_depth(std::string_view text) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

/// A present side parsed as an object, or nullopt if it is anything else.
std::optional<ojson> parse_object(const std::string& text) {
  if (nesting_depth(text) > max_depth)
    return std::nullopt;
  auto j = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    return std::nullopt;
  return j;
}

/// JSON equality ignoring object key order (ordered_json compares objects in order).
bool same(const ojson& a, const ojson& b) {
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size())
      return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !same(it.value(), *other))
        return false;
    }
    return true;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size())
      return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i]))
        return false;
    return true;
  }
  if (a.is_structured() || b.is_structured())
    return false;
  return a == b;
}

/// The value of `key` in `obj`, or nullptr if absent.
const ojson* lookup(const ojson& obj, const std::string& key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

/// Equality of two possibly absent values.
bool same(const ojson* a, const ojson* b) {
  if (a == nullptr || b == nullptr)
    return a == b;
  return same(*a, *b);
}

std::string pretty(const ojson& j) {
  // Parsed strings are valid UTF-8, so the strict handler cannot fire; replace anyway
  // rather than throw.
  return j.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
}

merge_result merge_opaque(const merge_input& in) {
  merge_result r;
  r.opaque = true;
  if (in.theirs == in.base || in.theirs == in.ours) {
    r.text = in.ours; // only ours changed, or both changed alike
    return r;
  }
  r.text = in.theirs;
  if (in.ours == in.base)
    return r; // only theirs changed
  r.conflict = true;
  if (in.ours)
    r.copy = conflict_copy{conflict_copy_path(in.path, in.node, in.utc), *in.ours};
  return r;
}

merge_result merge_objects(const merge_input& in, const ojson& base, const ojson& ours,
                           const ojson& theirs) {
  merge_result r;
  ojson merged = ojson::object();
  ojson copy = ojson::object();
  ojson deleted = ojson::array();
  // Theirs' order first, then keys only ours has; keys only in base can only have been
  // deleted on a side, so they never come first.
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto* side : {&theirs, &ours, &base})
    for (auto it = side->begin(); it != side->end(); ++it)
      if (seen.insert(it.key()).second)
        keys.push_back(it.key());
  for (const auto& key : keys) {
    const auto* b = lookup(base, key);
    const auto* o = lookup(ours, key);
    const auto* t = lookup(theirs, key);
    const ojson* take = nullptr;
    if (same(o, b))
      take = t; // unchanged here: theirs (changed or not)
    else if (same(t, b) || same(o, t))
      take = o; // changed here only, or alike on both sides
    else {
      take = t; // changed differently on both sides: remote wins, ours is kept aside
      r.conflicting_keys.push_back(key);
      if (o) {
        copy[key] = *o;
      } else {
        copy[key] = nullptr;
        deleted.push_back(key);
      }
    }
    if (take)
      merged[key] = *take;
  }
  bool file_deleted = !in.ours || !in.theirs;
  if (!(merged.empty() && file_deleted))
    r.text = pretty(merged);
  if (!r.conflicting_keys.empty()) {
    r.conflict = true;
    if (!deleted.empty()) {
      std::string marker = "_deleted";
      while (copy.contains(marker)) // a conflicting key of that name keeps its value
        marker += '_';
      copy[marker] = std::move(deleted);
    }
    r.copy = conflict_copy{conflict_copy_path(in.path, in.node, in.utc), pretty(copy)};
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
  std::optional<ojson> sides[3];
  const std::optional<std::string>* texts[3] = {&in.base, &in.ours, &in.theirs};
  for (int i = 0; i < 3; ++i) {
    if (!*texts[i]) {
      sides[i] = ojson::object(); // an absent file has no keys
      continue;
    }
    sides[i] = parse_object(**texts[i]);
    if (!sides[i])
      return merge_opaque(in);
  }
  return merge_objects(in, *sides[0], *sides[1], *sides[2]);
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
