#include "messages/wire.hpp"

#include "messages/status_json.hpp"

#include <stdexcept>

namespace montana::wire {

namespace {

// One place per message type: its name on the wire, how it is written, how it is read.

std::string checked_name(const json& j, const char* key) {
  auto name = j.at(key).get<std::string>();
  if (!valid_name(name))
    throw std::invalid_argument(std::string{key} + " is not a valid name");
  return name;
}

uint64_t unsigned_of(const json& j, const char* key) {
  const auto& x = j.at(key);
  if (!x.is_number_unsigned())
    throw std::invalid_argument(std::string{key} + " is not an unsigned integer");
  return x.get<uint64_t>();
}

uint32_t unsigned32_of(const json& j, const char* key) {
  auto x = unsigned_of(j, key);
  if (x > UINT32_MAX)
    throw std::invalid_argument(std::string{key} + " is out of range");
  return static_cast<uint32_t>(x);
}

struct writer {
  json& out;

  void operator()(const hello& x) {
    out["t"] = "hello";
    out["protocol"] = "montana";
    out["major"] = x.ver.major;
    out["minor"] = x.ver.minor;
    out["node"] = x.node;
    out["incarnation"] = x.incarnation;
  }
  void operator()(const heartbeat&) { out["t"] = "hb"; }
  void operator()(const ping& x) {
    out["t"] = "ping";
    out["seq"] = x.seq;
  }
  void operator()(const pong& x) {
    out["t"] = "pong";
    out["seq"] = x.seq;
  }
  void operator()(const claim& x) {
    out["t"] = "claim";
    out["duty"] = x.duty;
    out["term"] = x.term;
  }
  void operator()(const released& x) {
    out["t"] = "released";
    out["duty"] = x.duty;
    out["term"] = x.term;
    out["highest"] = x.highest;
  }
  void operator()(const refused& x) {
    out["t"] = "refused";
    out["duty"] = x.duty;
    out["term"] = x.term;
    out["highest"] = x.highest;
  }
  void operator()(const stepped_down& x) {
    out["t"] = "stepped_down";
    out["duty"] = x.duty;
  }
  void operator()(const resumed& x) {
    out["t"] = "resumed";
    out["duty"] = x.duty;
  }
  void operator()(const status_query&) { out["t"] = "status_query"; }
  void operator()(const status& x) {
    out["t"] = "status";
    out["status"] = to_json(x.value);
  }
  void operator()(const failure& x) {
    out["t"] = "error";
    out["error"] = x.error;
  }
  void operator()(const probe_req& x) {
    out["t"] = "probe_req";
    out["target"] = x.target;
  }
  void operator()(const probe_ack& x) {
    out["t"] = "probe_ack";
    out["target"] = x.target;
    out["alive"] = x.alive;
  }
  void operator()(const relay& x) {
    out["t"] = "relay";
    out["to"] = x.to;
    relayed_message(x);
  }
  void operator()(const relayed& x) {
    out["t"] = "relayed";
    out["origin"] = x.origin;
    relayed_message(x);
  }
  template <class Relay>
  void relayed_message(const Relay& x) {
    out["kind"] = to_string(x.kind);
    out["duty"] = x.duty;
    out["term"] = x.term;
    out["highest"] = x.highest;
  }
  void operator()(const duty_state& x) {
    out["t"] = "duty_state";
    out["duty"] = x.duty;
    out["role"] = to_string(x.role);
    out["term"] = x.term;
  }
};

bool bool_of(const json& j, const char* key) {
  const auto& x = j.at(key);
  if (!x.is_boolean())
    throw std::invalid_argument(std::string{key} + " is not a boolean");
  return x.get<bool>();
}

relay_kind kind_of(const json& j, const char* key) {
  auto text = j.at(key).get<std::string>();
  for (auto kind : {relay_kind::claim, relay_kind::released, relay_kind::refused})
    if (text == to_string(kind))
      return kind;
  throw std::invalid_argument(std::string{key} + " is not a relayed message");
}

/// The fields a relay and a relayed share.
template <class Relay>
Relay relay_of(const json& j, Relay x) {
  x.kind = kind_of(j, "kind");
  x.duty = checked_name(j, "duty");
  x.term = unsigned_of(j, "term");
  x.highest = unsigned_of(j, "highest");
  return x;
}

duty_role role_of(const json& j, const char* key) {
  auto text = j.at(key).get<std::string>();
  for (auto role :
       {duty_role::standby, duty_role::claiming, duty_role::holder, duty_role::releasing})
    if (text == to_string(role))
      return role;
  throw std::invalid_argument(std::string{key} + " is not a role");
}

/// The message of type `type` in `j`, sent by `from`; nullopt for a type this version does not
/// know. Throws on a malformed one.
std::optional<message> read(const std::string& type, const json& j, const std::string& from) {
  if (type == "hello") {
    if (j.at("protocol").get<std::string>() != "montana")
      throw std::invalid_argument("not the montana protocol");
    return hello{{unsigned32_of(j, "major"), unsigned32_of(j, "minor")},
                 checked_name(j, "node"),
                 unsigned_of(j, "incarnation")};
  }
  if (type == "hb")
    return heartbeat{};
  if (type == "ping")
    return ping{from, unsigned_of(j, "seq")};
  if (type == "pong")
    return pong{from, unsigned_of(j, "seq")};
  if (type == "claim")
    return claim{checked_name(j, "duty"), from, unsigned_of(j, "term")};
  if (type == "released")
    return released{checked_name(j, "duty"), from, unsigned_of(j, "term"),
                    unsigned_of(j, "highest")};
  if (type == "refused")
    return refused{checked_name(j, "duty"), from, unsigned_of(j, "term"),
                   unsigned_of(j, "highest")};
  if (type == "stepped_down")
    return stepped_down{checked_name(j, "duty"), from};
  if (type == "resumed")
    return resumed{checked_name(j, "duty"), from};
  if (type == "status_query")
    return status_query{from};
  if (type == "status")
    return status{j.at("status").get<node_status>()};
  if (type == "error")
    return failure{j.at("error").get<std::string>()};
  if (type == "probe_req")
    return probe_req{from, checked_name(j, "target")};
  if (type == "probe_ack")
    return probe_ack{from, checked_name(j, "target"), bool_of(j, "alive")};
  if (type == "relay") {
    relay x;
    x.to = checked_name(j, "to");
    x.origin = from;
    return relay_of(j, std::move(x));
  }
  if (type == "relayed") {
    relayed x;
    x.via = from;
    x.origin = checked_name(j, "origin");
    return relay_of(j, std::move(x));
  }
  if (type == "duty_state")
    return duty_state{checked_name(j, "duty"), from, role_of(j, "role"), unsigned_of(j, "term")};
  return std::nullopt;
}

} // namespace

std::string to_string(version v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor);
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > max_name)
    return false;
  for (auto c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

std::string printable(std::string_view text, size_t limit) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (auto c : text.substr(0, limit)) {
    auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f) {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 15]);
    }
  }
  if (text.size() > limit)
    out += "...";
  return out;
}

std::string encode(const frame& f) {
  auto body = json::object();
  std::visit(writer{body}, f.body);
  if (f.id != 0)
    body["id"] = f.id;
  if (f.re != 0)
    body["re"] = f.re;
  auto text = body.dump();
  auto n = static_cast<uint32_t>(text.size());
  std::string out;
  out.reserve(header_size + text.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out += text;
  return out;
}

uint32_t body_length(const std::array<unsigned char, header_size>& header) {
  return (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) | (uint32_t{header[2]} << 8) |
         uint32_t{header[3]};
}

decoded decode(std::string_view body, const std::string& from) {
  decoded out;
  try {
    // Strict: invalid UTF-8 and trailing bytes throw.
    auto j = json::parse(body);
    if (!j.is_object())
      throw std::invalid_argument("not a JSON object");
    auto type = j.at("t").get<std::string>();
    if (j.contains("id"))
      out.value.id = unsigned_of(j, "id");
    if (j.contains("re"))
      out.value.re = unsigned_of(j, "re");
    auto msg = read(type, j, from);
    if (!msg) {
      out.result = outcome::unknown_type;
      out.problem = "a frame of unknown type '" + (valid_name(type) ? type : "?") + "'";
      return out;
    }
    out.value.body = std::move(*msg);
    out.result = outcome::ok;
  } catch (const std::exception& e) {
    out.result = outcome::malformed;
    out.problem = "a malformed frame: " + printable(e.what());
  }
  return out;
}

} // namespace montana::wire
