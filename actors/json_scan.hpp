// One pass over a JSON text that checks it (RFC 8259, strictly) and, for an object, lists its
// top-level members as spans of the text: no tree is built, so a 100 MB users.json costs one
// scan and one small entry per key. The breather uses it to refuse a synced file that does not
// parse (a writer caught mid-write) and to merge by key in time linear in the keys.
// Pure: no I/O, no CAF, no clock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace montana {

/// One top-level member of a JSON object text; the views point into the scanned text.
struct json_member {
  /// The key, decoded (escapes resolved).
  std::string key;
  /// The key as written, quotes included (a valid JSON string).
  std::string_view raw_key;
  /// The value as written.
  std::string_view value;
  /// Hash of the value with the whitespace outside strings left out: values that differ only
  /// in spacing have the same digest. Equal digests are taken as equal values.
  uint64_t digest = 0;
};

/// What a scan found.
struct json_scan {
  enum class shape : uint8_t {
    /// A JSON object: `members` lists its top-level members in text order.
    object,
    /// Valid JSON that is not an object (an array, a string, a number, ...).
    other,
    /// Not JSON: `error` says where and why.
    invalid,
  };
  shape kind = shape::invalid;
  /// For an invalid text, one line: "line 3 column 7: expected ':'".
  std::string error;
  std::vector<json_member> members;

  bool valid() const { return kind != shape::invalid; }
};

/// Nesting deeper than this is refused as invalid (the comparisons that parse values recurse).
inline constexpr std::size_t json_max_depth = 512;

/// Checks `text` and indexes an object's members. Strings must be valid UTF-8 without raw
/// control characters and without unpaired surrogate escapes; nothing but whitespace may follow
/// the value.
json_scan scan_json(std::string_view text);

/// Whether a synced path holds JSON (its name ends in ".json"): such a file is never committed,
/// pushed or merged while it does not parse.
bool json_path(std::string_view path);

} // namespace montana
