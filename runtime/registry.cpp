#include "runtime/registry.hpp"

#include "messages/wire.hpp"
#include "runtime/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace montana {

namespace {

using json = nlohmann::ordered_json;

std::string type_name_of(const json& value) {
  return value.type_name();
}

/// Far more than five nodes' entries; a larger file is the wrong file.
constexpr size_t max_registry_size = 16 << 20;

/// Throws `message` as one printable line: names and values from the file may hold control
/// characters or bytes that are not UTF-8.
[[noreturn]] void fail(const std::string& message) {
  throw registry_error{wire::printable(message, 1000)};
}

/// "entry mt…" or, once the name is known, "entry mt… (amsterdam)".
std::string entry_label(const std::string& key, const json& value) {
  auto label = "entry " + key;
  if (value.is_object())
    if (auto name = value.find("node_name"); name != value.end() && name->is_string())
      label += " (" + name->get<std::string>() + ")";
  return label;
}

std::string text_field(const json& entry, const char* field, bool required,
                       const std::string& where) {
  auto found = entry.find(field);
  if (found == entry.end()) {
    if (required)
      fail(where + ": missing \"" + field + "\"");
    return {};
  }
  if (!found->is_string())
    fail(where + ": \"" + field + "\" must be a string, got " + type_name_of(*found));
  return found->get<std::string>();
}

/// Checks one entry as read from JSON; `where` is "<origin>: entry mt…".
registry_entry entry_of(const std::string& key, const json& value, const std::string& where) {
  if (!value.is_object())
    fail(where + ": expected an object, got " + type_name_of(value));
  registry_entry entry;
  entry.fields = value;
  entry.address = text_field(value, "address", true, where);
  entry.public_key = text_field(value, "public_key", true, where);
  entry.node_name = text_field(value, "node_name", true, where);
  entry.alias = text_field(value, "alias", false, where);
  entry.ip = text_field(value, "ip", false, where);
  // Operators were registered here when the shell spoke TLS; it is a local socket now.
  if (value.contains("operator"))
    fail(where + ": operator entries are no longer used (the shell is a local socket): remove it");
  if (auto priority = value.find("priority"); priority != value.end()) {
    if (!priority->is_number_integer())
      fail(where + ": \"priority\" must be an integer, got " + type_name_of(*priority));
    entry.priority = priority->get<int64_t>();
  }

  if (entry.address != key)
    fail(where + ": \"address\" is " + entry.address + ", not its key");
  auto raw = from_hex(entry.public_key);
  if (!raw || raw->empty())
    fail(where + ": \"public_key\" is not hex");
  // The one check that makes the registry a pin: the key decides the address, not the writer.
  if (auto expected = address_of(*raw); entry.address != expected)
    fail(where + ": address does not match its public_key (that key's address is " + expected +
         ")");
  if (entry.node_name.empty())
    fail(where + ": \"node_name\" is empty");
  if (entry.alias.empty())
    entry.alias = node_alias(entry.node_name);
  else if (entry.alias != node_alias(entry.node_name))
    fail(where + ": \"alias\" is " + entry.alias + ", expected " + node_alias(entry.node_name));
  if (entry.priority < 1)
    fail(where + ": \"priority\" " + std::to_string(entry.priority) + " must be 1 or more");
  return entry;
}

/// The entry's JSON: its fields as read, with the typed members written over them.
json json_of(const registry_entry& entry) {
  auto out = entry.fields;
  out["address"] = entry.address;
  out["public_key"] = entry.public_key;
  out["node_name"] = entry.node_name;
  out["alias"] = entry.alias;
  out["ip"] = entry.ip;
  out["priority"] = entry.priority;
  return out;
}

/// Now as Python's datetime.now(timezone.utc).isoformat(), the original's created_at.
std::string iso_now() {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()) %
                std::chrono::seconds{1};
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  auto size = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + size, sizeof text - size, ".%06lld+00:00",
                static_cast<long long>(micros.count()));
  return text;
}

} // namespace

registry registry::load(const std::string& path) {
  std::string text;
  try {
    text = read_regular_file(path, "node registry", max_registry_size);
  } catch (const identity_error& e) {
    fail(e.what());
  }
  return parse(text, path);
}

registry registry::parse(std::string_view text, const std::string& origin) {
  json document;
  try {
    document = json::parse(text);
  } catch (const json::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 1: …" without the tag.
    if (auto tag_end = what.find("] "); what.starts_with("[json.") && tag_end != std::string::npos)
      what.erase(0, tag_end + 2);
    fail(origin + ": invalid JSON: " + what);
  }
  if (!document.is_object())
    fail(origin + ": expected an object keyed by node address, got " + type_name_of(document));
  registry result;
  for (const auto& [key, value] : document.items()) {
    auto entry = entry_of(key, value, origin + ": " + entry_label(key, value));
    if (auto* other = result.find_name(entry.node_name))
      fail(origin + ": node '" + entry.node_name + "' is registered twice: " + other->address +
           " and " + entry.address);
    result.entries_.push_back(std::move(entry));
  }
  return result;
}

const registry_entry* registry::find_name(std::string_view node_name) const {
  auto i = std::find_if(entries_.begin(), entries_.end(),
                        [&](const auto& e) { return e.node_name == node_name; });
  return i == entries_.end() ? nullptr : &*i;
}

const registry_entry* registry::find_address(std::string_view address) const {
  auto i = std::find_if(entries_.begin(), entries_.end(),
                        [&](const auto& e) { return e.address == address; });
  return i == entries_.end() ? nullptr : &*i;
}

upsert_result registry::upsert(const registry_entry& entry) {
  // Validated exactly as if read from the file, so that save() never writes what load() refuses.
  auto as_json = json_of(entry);
  auto checked = entry_of(entry.address, as_json, "new " + entry_label(entry.address, as_json));
  auto* same_address = find_address(checked.address);
  auto* same_name = find_name(checked.node_name);
  if (same_address && same_name && same_address != same_name)
    fail("cannot register " + checked.node_name + " as " + checked.address +
         ": that address is already node '" + same_address->node_name + "'");
  auto* old = same_address ? same_address : same_name;
  if (!old) {
    entries_.push_back(std::move(checked));
    return {upsert_result::change::added, {}};
  }
  upsert_result result;
  result.what = same_address ? upsert_result::change::updated : upsert_result::change::replaced;
  if (!same_address)
    result.old_address = old->address;
  auto& slot = entries_[static_cast<size_t>(old - entries_.data())];
  auto fields = slot.fields;
  for (const auto& [field, value] : checked.fields.items())
    if (!fields.contains(field))
      fields[field] = value;
  slot = std::move(checked);
  slot.fields = std::move(fields);
  return result;
}

std::string registry::text() const {
  auto document = json::object();
  for (const auto& entry : entries_)
    document[entry.address] = json_of(entry);
  // The original's layout (json.dump with indent=2, ensure_ascii=False), so that a rewrite by
  // either side changes only the lines that changed.
  return document.dump(2) + "\n";
}

void registry::save(const std::string& path) const {
  try {
    write_file_atomically(path, text(), 0644, true);
  } catch (const identity_error& e) {
    throw registry_error{e.what()};
  }
}

registry_entry entry_for(const identity_info& cert, const config& cfg) {
  registry_entry entry;
  entry.address = cert.address;
  entry.public_key = cert.public_key;
  entry.node_name = cert.name;
  entry.alias = node_alias(cert.name);
  auto* node = cfg.find_node(cert.name);
  if (!node)
    fail(cert.files.cert_path + ": '" + cert.name +
         "' is no node of the cluster (known: " + cfg.node_names() + ")");
  entry.ip = node->host;
  entry.priority = cfg.rank(cert.name) + 1;
  // The original's vocabulary: a "full" node.
  entry.fields = json{{"address", entry.address},
                      {"public_key", entry.public_key},
                      {"node_name", entry.node_name},
                      {"alias", entry.alias},
                      {"ip", entry.ip},
                      {"type", "full"},
                      {"created_at", iso_now()},
                      {"priority", entry.priority}};
  return entry;
}

std::string register_identity(const std::string& registry_path, const std::string& cert_path,
                              const config& cfg, const std::optional<std::string>& expected_name) {
  auto cert = inspect_certificate(cert_path);
  if (expected_name && cert.name != *expected_name)
    fail(cert_path + ": belongs to '" + cert.name + "', not '" + *expected_name + "'");
  if (cert.uid != cert.address)
    fail(cert_path + ": UID does not match the address of its key (" + cert.address +
         "); refusing to register it");
  if (std::chrono::system_clock::now() > cert.not_after)
    fail(cert_path + ": expired; refusing to register it");
  std::error_code ec;
  registry reg;
  if (std::filesystem::exists(registry_path, ec))
    reg = registry::load(registry_path);
  else if (auto dir = std::filesystem::path{registry_path}.parent_path(); !dir.empty())
    std::filesystem::create_directories(dir, ec); // a failure shows in save() with its reason
  auto result = reg.upsert(entry_for(cert, cfg));
  reg.save(registry_path);
  switch (result.what) {
  case upsert_result::change::added:
    return "added " + cert.name + " (" + cert.address + ") to " + registry_path;
  case upsert_result::change::updated:
    return "updated " + cert.name + " (" + cert.address + ") in " + registry_path;
  case upsert_result::change::replaced:
    break;
  }
  return "replaced " + cert.name + "'s previous key " + result.old_address + " by " + cert.address +
         " in " + registry_path;
}

} // namespace montana
