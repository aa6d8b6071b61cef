#pragma once
// CurlTransport: balancer::HttpTransport over libcurl's multi interface on the libuv loop.
//
// For: every HTTP request the balancer makes (chat completions, embeddings, health
// probes). One CURLM handle drives all transfers from the loop, as curl's
// docs/examples/multi-uv.c does: curl tells us which sockets to watch
// (CURLMOPT_SOCKETFUNCTION -> one uv_poll_t per socket) and when to wake it
// (CURLMOPT_TIMERFUNCTION -> one uv_timer_t); each event calls
// curl_multi_socket_action() and then drains curl_multi_info_read(). No thread per
// request, no busy polling. The multi handle's connection cache gives keep-alive reuse
// across requests; HTTP/2 is negotiated over TLS where the server offers it
// (CURL_HTTP_VERSION_2TLS) and streams are multiplexed on one connection
// (CURLPIPE_MULTIPLEX). TLS verification is always on; there is no option to turn it off.
// Not for: retries, classification or rate limits (the Balancer), or serving HTTP.
//
// Loop and threading: lives on the loop of the UvDispatcher it is given; every method
// and callback runs on that thread. The dispatcher must outlive the transport.
//
// Ownership: the transport owns the CURLM handle, every easy handle (one per request in
// flight, plus a small pool of idle ones kept for reuse), the request's header list and
// body (curl borrows them until the transfer is removed), and the uv handles. uv handle
// memory is freed only in close callbacks (worker/uv/uv_handle.h), so a poll handle may
// outlive the transport by one loop turn; it never calls into the transport again.
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
// -> kTimeout, send/receive failures and truncated replies -> kConnectionReset, the rest
// -> kOther). error_detail is curl's message (curl_easy_strerror + CURLOPT_ERRORBUFFER),
// which names hosts but never request headers, the URL or the body.
// Timeouts: connect_timeout and total_timeout are clamped to at least 1 ms, because 0
// means "no timeout" to curl and a caller whose deadline has just passed means the
// opposite.

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "balancer/http_transport.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::worker::http {

struct CurlTransportOptions {
  // 0 = unlimited. Caps connections per host (requests beyond it queue inside curl).
  long max_host_connections = 0;
  // Size of the connection cache (idle keep-alive connections kept); 0 = curl's default
  // (4 x the number of transfers added).
  long max_cached_connections = 0;
  // A response body larger than this fails with kOther (protects the worker's memory).
  std::size_t max_body_bytes = 64u << 20;
  // Idle easy handles kept for reuse (curl_easy_reset) instead of freed.
  std::size_t easy_pool_size = 64;
  std::string user_agent = "celeriac/0.1";
  // Extra CA bundle (PEM file) for private endpoints; empty = the system store.
  std::string ca_file;
};

class CurlTransport final : public balancer::HttpTransport {
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
  [[nodiscard]] std::size_t inFlight() const { return requests_.size(); }
  // Sockets curl currently asks us to watch (open connections with a poll handle).
  [[nodiscard]] std::size_t watchedSockets() const { return sockets_.size(); }

 private:
  struct Request;
  struct CurlFns;  // the noexcept C trampolines (defined in the .cc)
  friend struct CurlFns;

  void watchSocket(int fd, int what, void* socketp);
  void armTimer(long timeout_ms);
  void onSocketEvent(int fd, int status, int events);
  void onTimer();
  void drainCompleted();
  void releaseEasy(void* easy);
  void postCompletion(std::function<void(balancer::HttpResponse)> on_done,
                      balancer::HttpResponse response);

  uv::UvDispatcher& dispatcher_;
  CurlTransportOptions options_;
  void* multi_;  // CURLM*; void* keeps curl.h out of this header
  uv_timer_t* timer_;
  std::unordered_map<int, uv_poll_t*> sockets_;  // fd -> its poll handle
  std::unordered_map<balancer::HttpRequestId, std::unique_ptr<Request>> requests_;
  std::vector<void*> idle_easy_;  // CURL* ready for reuse
  balancer::HttpRequestId next_id_ = 1;
  // Posted completions hold a weak_ptr to this: after destruction they find it expired.
  std::shared_ptr<CurlTransport*> alive_;
};

}  // namespace celeriac::worker::http
