#include "runtime/http.hpp"

#include <algorithm>
#include <cctype>

namespace montana {

namespace {

constexpr size_t max_header_lines = 64;

http_parse bad(int status, std::string reason) {
  http_parse out;
  out.result = http_parse::outcome::bad;
  out.status = status;
  out.reason = std::move(reason);
  return out;
}

/// RFC 9110 token characters (methods, header names).
bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

bool printable(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

/// Splits off one line ending in "\r\n" or "\n"; nullopt-like empty view with ok=false if none.
bool next_line(std::string_view& rest, std::string_view& line) {
  auto end = rest.find('\n');
  if (end == std::string_view::npos)
    return false;
  line = rest.substr(0, end);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  rest.remove_prefix(end + 1);
  return true;
}

} // namespace

http_parse parse_http_head(std::string_view received, size_t max_head) {
  // Only look at what may belong to the head: a longer head is refused however it continues.
  auto end = received.find("\r\n\r\n");
  auto lf_end = received.find("\n\n");
  auto head_end = std::min(end == std::string_view::npos ? end : end + 4,
                           lf_end == std::string_view::npos ? lf_end : lf_end + 2);
  if (head_end == std::string_view::npos) {
    if (received.size() > max_head)
      return bad(431, "request head larger than " + std::to_string(max_head) + " bytes");
    return {};
  }
  if (head_end > max_head)
    return bad(431, "request head larger than " + std::to_string(max_head) + " bytes");
  auto rest = received.substr(0, head_end);
  std::string_view line;
  next_line(rest, line);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return bad(400, "malformed request line");
  auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), token_char))
    return bad(400, "malformed method");
  if (target.empty() || target[0] != '/' || !printable(target))
    return bad(400, "malformed target");
  if (version.substr(0, 5) != "HTTP/")
    return bad(400, "malformed version");
  if (version != "HTTP/1.0" && version != "HTTP/1.1")
    return bad(505, "unsupported version " + std::string{version});
  size_t headers = 0;
  while (next_line(rest, line) && !line.empty()) {
    if (++headers > max_header_lines)
      return bad(431, "more than " + std::to_string(max_header_lines) + " header lines");
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 ||
        !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon), token_char))
      return bad(400, "malformed header line");
    auto value = line.substr(colon + 1);
    if (!std::all_of(value.begin(), value.end(), [](char c) {
          return c == '\t' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
        }))
      return bad(400, "control character in a header");
  }
  http_parse out;
  out.result = http_parse::outcome::ok;
  out.request.method = std::string{method};
  out.request.path = std::string{target.substr(0, target.find('?'))};
  out.request.version = std::string{version};
  return out;
}

std::string_view http_reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 431:
    return "Request Header Fields Too Large";
  case 503:
    return "Service Unavailable";
  case 505:
    return "HTTP Version Not Supported";
  }
  return "Error";
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string{http_reason(status)} +
                    "\r\nContent-Type: " + std::string{content_type} +
                    "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  if (status == 405)
    out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!head_only)
    out += body;
  return out;
}

} // namespace montana
