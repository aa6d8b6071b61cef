#pragma once
// CurlTransport: balancer::HttpTransport over libcurl's multi interface on the libuv loop.
//
// For: every HTTP request the balancer makes (chat completions, embeddings, health
// probes). Requests are grouped by their connection policy (HttpRequest::connection:
// HTTP version, connections per host, streams per connection, from the endpoint's
// config); each group is one CurlMultiPool, a libcurl multi handle driven by the libuv
// loop as curl's docs/examples/multi-uv.c does (curl_multi_pool.h). Its connection cache
// gives HTTP/1.1 keep-alive reuse across requests; HTTP/2 is negotiated over TLS by ALPN
// where the server offers it (CURL_HTTP_VERSION_2TLS), spoken with prior knowledge to a
// plain-http endpoint that says http2 (CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE; with a
// libcurl before 8.0.0, Debian 12's, by "Upgrade: h2c" instead, and then every
// connection has a multi handle of its own: poolFor in the .cc says why), and its
// streams are multiplexed on few connections (CURLPIPE_MULTIPLEX). One transfer's curl
// options and reply: curl_call.h. TLS verification is always on; there is no option to
// turn it off. A request goes on the wire at most once per send(): libcurl's own
// re-send after a reused connection died is refused (curl_call.h, "Sent once"), so
// every second attempt is the balancer's.
// Not for: retries, classification or rate limits (the Balancer), or serving HTTP.
//
// Loop and threading: lives on the loop of the UvDispatcher it is given; every method
// and callback runs on that thread. The dispatcher must outlive the transport.
//
// Ownership: the transport owns its pools (multi handles and their uv handles), every
// easy handle (one per request in flight, plus a small pool of idle ones reused with
// curl_easy_reset), and every CurlCall (the request's header list and body, which curl
// borrows until the transfer is removed). uv handle memory is freed only in close
// callbacks (worker/uv/uv_handle.h), so a poll handle may outlive the transport by one
// loop turn; it never calls into the transport again.
//
// Callbacks (the HttpTransport contract):
//   - send() returns at once; on_done never fires inside send(). A request curl refuses
//     to start is failed through Dispatcher::post().
//   - on_done fires exactly once, on the loop: from the socket/timer event that finished
//     the transfer (after curl_multi_socket_action has returned, so the callback may
//     send, cancel, or destroy the transport), or posted for cancel/refusal.
//   - cancel() of an in-flight request removes the transfer at once (its connection is
//     closed, never reused half-read) and posts on_done with TransportError::kCancelled;
//     cancel() of an unknown or finished id is a no-op.
//   - ~CurlTransport() aborts every transfer and never calls back afterwards: callbacks
//     of requests still in flight, or already posted but not yet run, are dropped.
//
// Errors: curl codes map to TransportError (connect/DNS/TLS -> kConnectFailed, timeouts
// -> kTimeout, send/receive failures, truncated replies and a connection lost before
// any reply byte -> kConnectionReset, the rest -> kOther). error_detail is curl's
// message (curl_easy_strerror + CURLOPT_ERRORBUFFER), which names hosts but never
// request headers, the URL or the body.
// Timeouts: connect_timeout and total_timeout are clamped to at least 1 ms, because 0
// means "no timeout" to curl and a caller whose deadline has just passed means the
// opposite.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "balancer/http_transport.h"
#include "common/lifetime_token.h"
#include "worker/http/curl_call.h"
#include "worker/http/curl_multi_pool.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::worker::http {

struct CurlTransportOptions {
  // Size of the connection cache (idle keep-alive connections kept); 0 = curl's default
  // (4 x the number of transfers added).
  long max_cached_connections = 0;
  // A response body larger than this fails with kOther (protects the worker's memory).
  std::size_t max_body_bytes = 64u << 20;
  // Idle easy handles kept for reuse (curl_easy_reset) instead of freed.
  std::size_t easy_pool_size = 64;
  // curl's receive buffer per transfer (CURLOPT_BUFFERSIZE, at least 1024; curl's own
  // default is 16 KiB). Held by every call waiting for its reply, so kept small.
  long receive_buffer_bytes = 1024;
  std::string user_agent = "celeriac/0.1";
  // Extra CA bundle (PEM file) for private endpoints; empty = the system store.
  std::string ca_file;
};

class CurlTransport final : public balancer::HttpTransport, private CurlMultiPool::Owner {
 public:
  // Calls curl_global_init once per process (never cleaned up: curl's global state lives
  // as long as the process). Throws std::runtime_error if curl cannot be initialised
  // (start-up only).
  explicit CurlTransport(uv::UvDispatcher& dispatcher, CurlTransportOptions options = {});
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  balancer::HttpRequestId send(balancer::HttpRequest request,
                               std::function<void(balancer::HttpResponse)> on_done) override;
  void cancel(balancer::HttpRequestId id) override;

  // Transfers started and not yet completed or cancelled.
  [[nodiscard]] std::size_t inFlight() const { return calls_.size(); }
  // Sockets curl currently asks us to watch (open connections), over every pool.
  [[nodiscard]] std::size_t watchedSockets() const;
  // Connection pools (one per distinct connection policy seen so far; for HTTP/2 by
  // h2c upgrade, one per connection of the policy).
  [[nodiscard]] std::size_t pools() const { return pools_.size(); }

 private:
  CurlMultiPool& poolFor(const balancer::HttpConnectionPolicy& policy);
  void onFinished(std::vector<CurlFinished> finished) override;
  void releaseEasy(CURL* easy);
  void postCompletion(std::function<void(balancer::HttpResponse)> on_done,
                      balancer::HttpResponse response);

  uv::UvDispatcher& dispatcher_;
  CurlTransportOptions options_;
  std::vector<std::unique_ptr<CurlMultiPool>> pools_;  // few: one per policy
  std::unordered_map<balancer::HttpRequestId, std::unique_ptr<CurlCall>> calls_;
  std::vector<CURL*> idle_easy_;  // ready for reuse
  balancer::HttpRequestId next_id_ = 1;
  // Posted completions are guarded by it: after destruction they find us gone.
  common::LifetimeToken lifetime_;
};

}  // namespace celeriac::worker::http
