#define CAF_SUITE runtime.http
#include "caf/test/dsl.hpp"

#include "runtime/http.hpp"

using namespace montana;

namespace {

http_parse parse(const std::string& text) {
  return parse_http_head(text, 8192);
}

} // namespace

CAF_TEST(a request head parses once it is complete) {
  auto partial = parse("GET /metrics HTTP/1.1\r\nHost: x\r\n");
  CAF_CHECK(partial.result == http_parse::outcome::incomplete);
  auto whole = parse("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  CAF_REQUIRE(whole.result == http_parse::outcome::ok);
  CAF_CHECK_EQUAL(whole.request.method, "GET");
  CAF_CHECK_EQUAL(whole.request.path, "/metrics");
  CAF_CHECK_EQUAL(whole.request.version, "HTTP/1.1");
  // Bare LF line ends (curl never sends them, netcat users do) and HTTP/1.0 without headers.
  auto lf = parse("HEAD /status HTTP/1.0\n\n");
  CAF_REQUIRE(lf.result == http_parse::outcome::ok);
  CAF_CHECK_EQUAL(lf.request.method, "HEAD");
  // A body after the head does not matter.
  CAF_CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").result ==
            http_parse::outcome::ok);
}

CAF_TEST(malformed heads get 400 and unknown versions 505) {
  for (const auto* bad :
       {"garbage\r\n\r\n", "GET\r\n\r\n", "GET /x\r\n\r\n", "GET  /x HTTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1 extra\r\n\r\n", "G(T /x HTTP/1.1\r\n\r\n", "GET x HTTP/1.1\r\n\r\n",
        "GET /a\x01 HTTP/1.1\r\n\r\n", "GET /x FTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1\r\nno colon\r\n\r\n", "GET /x HTTP/1.1\r\n: v\r\n\r\n",
        "GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", "GET /x HTTP/1.1\r\nX: a\x02z\r\n\r\n"}) {
    auto r = parse(bad);
    CAF_CHECK(r.result == http_parse::outcome::bad);
    CAF_CHECK_EQUAL(r.status, 400);
  }
  auto v2 = parse("GET /x HTTP/2.0\r\n\r\n");
  CAF_CHECK(v2.result == http_parse::outcome::bad);
  CAF_CHECK_EQUAL(v2.status, 505);
}

CAF_TEST(oversized heads get 431 before they are complete) {
  auto endless = "GET /x HTTP/1.1\r\nX: " + std::string(9000, 'a');
  auto r = parse(endless);
  CAF_CHECK(r.result == http_parse::outcome::bad);
  CAF_CHECK_EQUAL(r.status, 431);
  auto whole = endless + "\r\n\r\n";
  CAF_CHECK_EQUAL(parse(whole).status, 431);
  std::string many = "GET /x HTTP/1.1\r\n";
  for (int i = 0; i < 65; ++i)
    many += "X-" + std::to_string(i) + ": y\r\n";
  auto lines = parse(many + "\r\n");
  CAF_CHECK_EQUAL(lines.status, 431);
  // Just under the limit is fine.
  auto fits = "GET /x HTTP/1.1\r\nX: " + std::string(8100, 'a') + "\r\n\r\n";
  CAF_CHECK(parse(fits).result == http_parse::outcome::ok);
}

CAF_TEST(responses close the connection and keep the length for HEAD) {
  auto r = http_response(200, "text/plain", "hello");
  CAF_CHECK(r.starts_with("HTTP/1.1 200 OK\r\n"));
  CAF_CHECK(r.find("Content-Length: 5\r\n") != std::string::npos);
  CAF_CHECK(r.find("Connection: close\r\n") != std::string::npos);
  CAF_CHECK(r.ends_with("\r\n\r\nhello"));
  auto head = http_response(200, "text/plain", "hello", true);
  CAF_CHECK(head.find("Content-Length: 5\r\n") != std::string::npos);
  CAF_CHECK(head.ends_with("\r\n\r\n"));
  auto not_allowed = http_response(405, "text/plain", "no");
  CAF_CHECK(not_allowed.find("Allow: GET, HEAD\r\n") != std::string::npos);
  CAF_CHECK_EQUAL(http_reason(431), "Request Header Fields Too Large");
}
