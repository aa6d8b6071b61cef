#pragma once
// HttpTransport: the balancer's only way to reach the network.
//
// The worker implements it with libcurl's multi interface on the libuv loop
// (worker/http/curl_transport.h); tests use fakes. The balancer builds requests and
// classifies responses; it never opens a socket itself.
//
// Contract: `send` returns at once. `on_done` fires exactly once, on the loop thread,
// never inside `send`, with either a response (any HTTP status) or a transport error.
// Cancelling a request that already completed is a no-op; a cancelled request's
// callback fires once with TransportError::kCancelled.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace celeriac::balancer {

struct HttpHeader {
  std::string name;  // as received; compare case-insensitively
  std::string value;
};

enum class HttpVersion {
  kAuto,   // HTTP/2 where TLS ALPN offers it, else HTTP/1.1
  kHttp2,  // HTTP/2 only: prior knowledge (h2c) on http://, ALPN on https://
  kHttp1,  // HTTP/1.1 only
};

// How to reach a server. The transport pools connections per distinct policy and host,
// so requests with equal policies share connections (HTTP/1.1 keep-alive, HTTP/2 streams).
struct HttpConnectionPolicy {
  HttpVersion version = HttpVersion::kAuto;
  std::int64_t max_connections = 0;             // to one host at once; 0 = no limit
  std::int64_t max_streams_per_connection = 0;  // HTTP/2 only; 0 = the transport's default

  bool operator==(const HttpConnectionPolicy&) const = default;
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<HttpHeader> headers;  // may carry secrets (Authorization): never log them
  std::string body;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{60'000};
  HttpConnectionPolicy connection{};
};

enum class TransportError {
  kNone,
  kConnectFailed,    // refused, DNS, TLS handshake
  kTimeout,          // connect or total timeout
  kConnectionReset,  // peer closed or reset mid-request
  kCancelled,
  kOther,
};

struct HttpResponse {
  TransportError error = TransportError::kNone;
  std::string error_detail;  // human-readable, never containing request headers
  int status = 0;            // 0 when error != kNone
  std::vector<HttpHeader> headers;
  std::string body;
  std::chrono::microseconds elapsed{0};
};

using HttpRequestId = std::uint64_t;

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual HttpRequestId send(HttpRequest request, std::function<void(HttpResponse)> on_done) = 0;
  virtual void cancel(HttpRequestId id) = 0;
};

}  // namespace celeriac::balancer
