// THE WIRE FORMAT of the 19333 channel between nodes (protocol "montana", version 1.1).
//
// Everything another node can make this node read passes through `decode` below; changing what
// it accepts changes the protocol. After the TLS 1.3 handshake (mutual, each certificate's key
// pinned by the registry: runtime/channel.*), both ends exchange frames:
//
//   frame  = length body            length: 4 bytes, big-endian, 1..max_frame
//   body   = one JSON object        {"t": TYPE, ...fields of TYPE}
//
// A request carries "id" (> 0); its answer carries "re" with that id. The first frame in each
// direction is a `hello`; then heartbeats keep the link alive, and the rest is the protocol of
// the chain rule (claim, released, refused, stepped_down, resumed, duty_state), the probes (ping,
// pong; probe_req, probe_ack: does another node still see a peer alive), relays of the chain
// rule's claims and answers between nodes whose own link is down (relay to the node in the
// middle, relayed from it) and the cluster view (status_query, status). No message carries the name
// of its sender: it is the node whose certificate the link was authenticated with, filled in by
// `decode`.
//
// Compatibility: nodes link only when their major versions are equal. A minor version may add
// message types and fields; a receiver ignores fields it does not know, and frames of a type it
// does not know are dropped with a counted log line, never an error of the link. 1.1 added
// probe_req, probe_ack, duty_state, relay and relayed: a 1.0 node drops them, so it vouches for
// nobody, relays nothing and tells no role when a link comes up (its links settle by claims, as
// 1.0 did).
#pragma once

#include "messages/messages.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace montana::wire {

/// A protocol version; see the compatibility rule above.
struct version {
  uint32_t major = 0;
  uint32_t minor = 0;

  bool operator==(const version&) const = default;
};

/// The version this build speaks.
inline constexpr version current{1, 1};

/// Whether a node speaking `theirs` can link with one speaking `ours`.
constexpr bool compatible(version ours, version theirs) {
  return ours.major == theirs.major;
}

/// "1.0".
std::string to_string(version v);

/// Largest frame body either end accepts; a larger announced length ends the link.
inline constexpr uint32_t max_frame = 1 << 20;
/// Size of the length prefix.
inline constexpr size_t header_size = 4;
/// Longest node or duty name on the wire (config names are shorter still).
inline constexpr size_t max_name = 64;

/// The first frame of each side of a link.
struct hello {
  version ver;
  std::string node;
  /// Random per start of the node: tells a restart from a reconnect.
  uint64_t incarnation = 0;
};

/// Keeps a quiet link alive; a link that carries nothing for `connection_timeout` is closed.
struct heartbeat {};

/// The answer to a status_query.
struct status {
  node_status value;
};

/// The answer to a request that could not be served.
struct failure {
  std::string error;
};

using message =
    std::variant<hello, heartbeat, ping, pong, claim, released, refused, stepped_down, resumed,
                 status_query, status, failure, probe_req, probe_ack, duty_state, relay, relayed>;

/// One frame: a message, and its request id or the id it answers (0: none).
struct frame {
  message body;
  uint64_t id = 0;
  uint64_t re = 0;
};

/// The frame as it goes on the wire: length prefix and body.
std::string encode(const frame& f);

/// The body length a frame header announces (not checked against max_frame).
uint32_t body_length(const std::array<unsigned char, header_size>& header);

/// What decode made of a body.
enum class outcome { ok, unknown_type, malformed };

struct decoded {
  outcome result = outcome::malformed;
  frame value;
  /// One line for the log when not ok.
  std::string problem;
};

/// Decodes one body received over the link of node `from`; the `from`/`node` fields of the
/// message are set to `from`.
decoded decode(std::string_view body, const std::string& from);

/// Untrusted `text` (from the network, a file) fit for one log line: bytes outside printable
/// ASCII shown as \xNN, at most `limit` bytes of it.
std::string printable(std::string_view text, size_t limit = 200);

/// A name as the wire allows it: 1..max_name characters of [A-Za-z0-9._-].
bool valid_name(std::string_view name);

} // namespace montana::wire
