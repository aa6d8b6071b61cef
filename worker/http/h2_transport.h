#pragma once
// H2Transport: balancer::HttpTransport for endpoints that say `http2: true`, spoken by
// the project's own lean HTTP/2 client over nghttp2 (H2Connection) instead of one
// libcurl transfer per call: over TLS agreed by ALPN ("h2") on https://, the peer's
// certificate always verified (TlsStream), and with prior knowledge (h2c) on http://.
//
// Why its own client: a call waiting for an LLM costs libcurl 7.88 (Debian 12) about
// 16-21 KB (per-transfer state, buffers, its easy handle) even when thousands share one
// HTTP/2 connection; here it costs an H2Call (ids, callback, deadline, the reply as it
// comes) and nghttp2's stream, and the request is freed once it is on the wire. See
// bench/README.md, "LLM calls in flight".
// Not for: HTTP/1.1 (a server that does not agree to h2 fails the connection; endpoints
// without `http2: true` go through CurlTransport: SplitTransport routes), retries,
// classification or rate limits (the Balancer).
//
// Connections: per distinct (connection policy, host, port) a pool of at most
// `max_connections` connections taking calls (0: as many as the calls need), each
// carrying at most `max_streams_per_connection` streams (0: 100; the server's SETTINGS
// may lower it). A connection that takes no more calls (draining after a GOAWAY, or
// retired because a call on it ran out of time: its peer may be gone without a word) no
// longer counts, and closes when its last stream ends. A call waits in its pool's
// queue, in order, for a free stream; a new connection is opened only when the queue is
// longer than the streams the connections being set up will offer. A request is written
// at most once per send() and freed once written, so anything that ends a stream early
// ends its call; a stream the server refused unprocessed (REFUSED_STREAM, or past a
// GOAWAY) says so in error_detail, and the balancer's retry sends it again.
//
// Timeouts: total_timeout covers the call from send() to its last reply byte, queueing
// included; connect_timeout covers setting up the connection a call started.
// Errors: a connection refused or unresolvable, or a TLS handshake that fails (the
// certificate, the name, no h2 by ALPN), fails at once the calls waiting for it
// (kConnectFailed) when no other connection of the pool is open; a
// connect timeout is kTimeout; a connection lost, a stream reset or a protocol error is
// kConnectionReset; a reply body over max_body_bytes is kOther. error_detail names the
// host and port, never a header, the path or the body.
//
// Loop and threading: lives on the loop of the UvDispatcher it is given; every method
// and callback runs on that thread. The dispatcher must outlive the transport.
//
// Callbacks (the HttpTransport contract): send() returns at once and never calls back
// inside; on_done fires exactly once, always posted through the dispatcher (so a
// callback may send, cancel or destroy the transport); cancel() of an unknown or
// finished id is a no-op; ~H2Transport() drops every callback not yet run.
//
// Ownership: owns its pools, their connections, every H2Call by id, and the TLS context
// its https:// connections share.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "balancer/http_transport.h"
#include "common/lifetime_token.h"
#include "worker/http/h2_call.h"
#include "worker/http/h2_connection.h"
#include "worker/uv/uv_dispatcher.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::http {

struct H2TransportOptions {
  // A response body larger than this fails with kOther (protects the worker's memory).
  std::size_t max_body_bytes = 64u << 20;
  std::string user_agent = "celeriac/0.1";
  // The first request id; SplitTransport gives this transport ids of its own range.
  balancer::HttpRequestId first_id = 1;
  // Extra CA bundle (PEM file) for private https endpoints; empty = the system store.
  std::string ca_file;
};

// Every call to one (policy, host, port): its connections and the calls waiting.
struct H2Pool {
  balancer::HttpConnectionPolicy policy{};
  H2Target target{};
  std::vector<std::unique_ptr<H2Connection>> connections;
  std::deque<H2Call*> waiting;

  [[nodiscard]] std::size_t streamsPerConnection() const;
};

class H2Transport final : public balancer::HttpTransport, private H2Connection::Owner {
 public:
  explicit H2Transport(uv::UvDispatcher& dispatcher, H2TransportOptions options = {});
  ~H2Transport() override;
  H2Transport(const H2Transport&) = delete;
  H2Transport& operator=(const H2Transport&) = delete;

  balancer::HttpRequestId send(balancer::HttpRequest request,
                               std::function<void(balancer::HttpResponse)> on_done) override;
  void cancel(balancer::HttpRequestId id) override;

  // Calls sent and not yet completed or cancelled (queued or on a stream).
  [[nodiscard]] std::size_t inFlight() const { return calls_.size(); }
  // Connections open or being set up, over every pool.
  [[nodiscard]] std::size_t connections() const;

 private:
  void onConnectionReady(H2Connection& connection) override;
  void onStreamEnded(H2Call& call, H2StreamEnd end) override;
  void onStreamsFreed(H2Connection& connection) override;
  void onConnectionGone(H2Connection& connection, bool connected, balancer::TransportError error,
                        const std::string& detail) override;

  H2Pool* poolOf(const H2Connection& connection);
  H2Pool& poolFor(const balancer::HttpConnectionPolicy& policy, const H2Target& target);
  void pump(H2Pool& pool);
  void removeWaiting(H2Call& call);
  void complete(balancer::HttpRequestId id, balancer::HttpResponse response);
  void fail(balancer::HttpRequestId id, balancer::TransportError error, std::string detail);
  void failNow(std::function<void(balancer::HttpResponse)> on_done,
               balancer::TransportError error, std::string detail);
  void armDeadlineTimer();
  void onDeadlines();
  void scheduleSettle();
  void settle();

  uv::UvDispatcher& dispatcher_;
  H2TransportOptions options_;
  std::vector<std::unique_ptr<H2Pool>> pools_;
  std::shared_ptr<TlsContext> tls_context_;  // made on the first https:// call
  std::unordered_map<balancer::HttpRequestId, std::unique_ptr<H2Call>> calls_;
  // (deadline in uv_hrtime ns, id): the total timeouts, earliest first; one timer.
  std::multimap<std::uint64_t, balancer::HttpRequestId> deadlines_;
  uv::HandlePtr<uv_timer_t> deadline_timer_;
  // Completions and dead connections wait here for settle(), which runs on a later loop
  // turn: never inside send() or an nghttp2 callback.
  struct Done {
    std::function<void(balancer::HttpResponse)> on_done;
    balancer::HttpResponse response;
  };
  std::vector<Done> done_;
  std::vector<std::unique_ptr<H2Connection>> gone_;
  std::vector<H2Pool*> to_pump_;
  bool settle_posted_ = false;
  balancer::HttpRequestId next_id_ = 1;
  common::LifetimeToken lifetime_;
};

}  // namespace celeriac::worker::http
