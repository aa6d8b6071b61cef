#pragma once
// CurlCall: one request in flight through CurlTransport: the easy handle's options, the
// reply it accumulates (curl's header and body callbacks), and the final HttpResponse.
//
// For: everything about ONE transfer that is not loop glue: mapping an HttpRequest onto
// curl options (HTTP version from its connection policy, timeouts, TLS verification,
// small receive buffers), collecting the reply, and mapping curl's result to an
// HttpResponse (CURLcode -> TransportError). Not for: sockets, timers or connection
// limits (CurlMultiPool), ids and callbacks (CurlTransport).
//
// Sent once: a request goes on the wire at most once per send(). libcurl itself sends a
// request again on a fresh connection when a reused connection dies before any reply
// byte ("Connection died, retrying a fresh connect", lib/transfer.c Curl_retry_request),
// HTTP/1.1 and HTTP/2 alike, POST included, though the server may have read it and be
// working on it. CURLOPT_PREREQFUNCTION runs before every attempt, so a second attempt
// is refused there and the call ends as TransportError::kConnectionReset: whether to
// send again is the balancer's decision (its retry policy, budget and rate limits).
//
// Memory: a call waiting for its reply holds the easy handle (curl's per-transfer state,
// with a receive buffer of `receive_buffer_bytes`), the header list and the body curl
// borrows, and the callback. The reply body grows to the announced Content-Length in one
// allocation; nothing is sized up front.
//
// Ownership: CurlTransport owns each CurlCall; the call owns its header list and body
// (curl borrows both until the transfer is removed from its multi handle) but not the
// easy handle (returned to the transport's idle pool).

#include <curl/curl.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "balancer/http_transport.h"

namespace celeriac::worker::http {

class CurlMultiPool;

// What every transfer gets from the transport's options.
struct CurlCallSettings {
  std::size_t max_body_bytes = 0;
  long receive_buffer_bytes = 0;  // CURLOPT_BUFFERSIZE; curl's minimum is 1024
  const std::string* user_agent = nullptr;
  const std::string* ca_file = nullptr;  // empty = the system store
};

struct CurlCall {
  balancer::HttpRequestId id = 0;
  CURL* easy = nullptr;
  CurlMultiPool* pool = nullptr;  // the multi handle it was added to
  curl_slist* headers = nullptr;  // borrowed by curl until the transfer is removed
  std::string body;               // CURLOPT_POSTFIELDS points into it
  std::function<void(balancer::HttpResponse)> on_done;
  balancer::HttpResponse response;
  std::size_t max_body_bytes = 0;
  bool body_too_large = false;
  bool sent = false;            // curl started the request once (CURLOPT_PREREQFUNCTION)
  bool resend_refused = false;  // curl wanted to send it again; refused
  std::uint64_t started_ns = 0;
  std::array<char, CURL_ERROR_SIZE> error{};

  CurlCall() = default;
  CurlCall(const CurlCall&) = delete;
  CurlCall& operator=(const CurlCall&) = delete;
  ~CurlCall() { curl_slist_free_all(headers); }

  // Sets every option of `easy` for `request` (whose body and headers move into this
  // call) and points curl's callbacks at this call.
  void configure(CURL* easy, balancer::HttpRequest& request, const CurlCallSettings& settings);

  // The response to hand back once curl finished the transfer with `code` (moves the
  // accumulated reply out).
  balancer::HttpResponse finish(CURLcode code);

  // Time since the call started.
  [[nodiscard]] std::chrono::microseconds elapsed() const;
};

// True when this libcurl reaches plain-http HTTP/2 endpoints by "Upgrade: h2c" rather than
// by prior knowledge (before 8.0.0; see curl_call.cc). Such a libcurl must see only one
// connection per host in a multi handle (CurlTransport::poolFor says why).
[[nodiscard]] bool h2cByUpgrade();

// CURLcode -> the balancer's transport error classes.
[[nodiscard]] balancer::TransportError mapCurlError(CURLcode code);

}  // namespace celeriac::worker::http
