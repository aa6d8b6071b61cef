#pragma once
// HttpRequest / HttpResponse: the plain data the stub's layers pass around.
//
// For: carrying one parsed request from Connection to Router, and one response back.
// Not for: parsing (Connection feeds Node's http_parser) or policy (Router decides).
// Lives on the stub's single libuv loop thread; values, no shared ownership.

#include <string>
#include <string_view>
#include <vector>

namespace celeriac::testing::stub {

// What a connection speaks: told by its first bytes (the HTTP/2 client preface or not).
enum class WireProtocol { kUnknown, kHttp1, kHttp2 };

struct HttpHeader {
  std::string name;  // requests: lower-cased by Connection; responses: as written
  std::string value;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string url;     // request target as sent, query included
  std::vector<HttpHeader> headers;
  std::string body;
  bool keep_alive = true;             // http_should_keep_alive() at message end
  std::string protocol = "HTTP/1.1";  // or "HTTP/2" (H2Session)

  // The first header named |lower_name| (already lower case), or nullptr.
  [[nodiscard]] const std::string* header(std::string_view lower_name) const;
  // The url without its query string.
  [[nodiscard]] std::string_view path() const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<HttpHeader> headers;  // extra headers; framing headers are added on serialize
  std::string body;

  void addHeader(std::string name, std::string value);
  // The full HTTP/1.1 message. Content-Length framing always (never chunked) so that a
  // slow-drip delivery is the same bytes as a normal one, only slower.
  [[nodiscard]] std::string serialize(bool keep_alive) const;
};

// "OK", "Too Many Requests", ...; "Unknown" for codes we never send on purpose.
[[nodiscard]] std::string_view reasonPhrase(int status);

}  // namespace celeriac::testing::stub
