// The little HTTP/1.x the status endpoint speaks: parse one request head, build one response.
// Pure functions, no sockets (runtime/status_http.* serves them).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace montana {

/// The request line of a parsed request.
struct http_request {
  std::string method;
  /// The path, without a query string.
  std::string path;
  std::string version;
};

/// What parse_http_head made of the bytes received so far.
struct http_parse {
  enum class outcome { incomplete, ok, bad };
  outcome result = outcome::incomplete;
  /// For `bad`: the status to answer (400, 431, 505) and why.
  int status = 0;
  std::string reason;
  http_request request;
};

/// Parses the head of one request (request line and header lines, up to the empty line) from
/// the start of `received`. A head longer than `max_head` bytes, or with more than 64 header
/// lines, is `bad` with 431; a malformed one `bad` with 400, a version other than HTTP/1.0 or
/// HTTP/1.1 with 505. The body, if any, is ignored.
http_parse parse_http_head(std::string_view received, size_t max_head);

/// A complete response that closes the connection; `head_only` for HEAD leaves out the body
/// but keeps its Content-Length.
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool head_only = false);

/// The reason phrase of the statuses the endpoint sends ("Not Found" for 404).
std::string_view http_reason(int status);

} // namespace montana
