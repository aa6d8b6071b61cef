#pragma once
// CurlMultiPool: one libcurl multi handle driven by the libuv loop, for every request
// that shares one connection policy (HTTP version, connection and stream limits).
//
// For: the multi-uv glue (curl's docs/examples/multi-uv.c): curl tells us which sockets
// to watch (CURLMOPT_SOCKETFUNCTION -> one uv_poll_t per socket) and when to wake it
// (CURLMOPT_TIMERFUNCTION -> one uv_timer_t); each event calls
// curl_multi_socket_action() and then drains curl_multi_info_read(). The multi handle
// is also the connection pool: its cache gives HTTP/1.1 keep-alive reuse, HTTP/2 streams
// are multiplexed on its connections (CURLPIPE_MULTIPLEX), at most
// `max_connections` connections per host (CURLMOPT_MAX_HOST_CONNECTIONS; transfers
// beyond them wait inside curl) and `max_streams_per_connection` streams each
// (CURLMOPT_MAX_CONCURRENT_STREAMS). Not for: building requests or reading replies
// (curl_call.h), request ids, cancellation, callbacks (CurlTransport), or choosing
// between several pools of one policy (CurlTransport::poolFor: with a libcurl that
// upgrades h2c connections, each connection gets a pool of its own).
//
// Loop and threading: every method and callback runs on the loop thread.
//
// Ownership: owns the CURLM handle, its timer and its poll handles. It never owns an easy
// handle: the owner adds and removes them, and removes all of them before destroying the
// pool. uv handle memory is freed only in close callbacks (worker/uv/uv_handle.h), so a
// poll handle may outlive the pool by one loop turn; it never calls into the pool again.
//
// Completion: after every socket or timer event, finished transfers are handed to the
// owner in one batch, as the event's LAST action, so the owner may destroy the pool
// (and itself) from there.

#include <curl/curl.h>
#include <uv.h>

#include <cstddef>
#include <unordered_map>
#include <utility>
#include <vector>

#include "balancer/http_transport.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::http {

struct CurlFinished {
  CURL* easy = nullptr;
  CURLcode code = CURLE_OK;
};

class CurlMultiPool {
 public:
  // Who gets the finished transfers (the transport). An interface, not a std::function,
  // because the owner may destroy the pool from inside the call.
  class Owner {
   public:
    virtual void onFinished(std::vector<CurlFinished> finished) = 0;

   protected:
    ~Owner() = default;
  };

  // Throws std::runtime_error if curl cannot create a multi handle (start-up or first
  // use of a policy). `host_connections` caps the connections to one host (0 = no cap;
  // usually the policy's max_connections). `max_cached_connections` 0 = curl's default
  // cache size.
  CurlMultiPool(uv_loop_t* loop, const balancer::HttpConnectionPolicy& policy,
                long host_connections, long max_cached_connections, Owner& owner);
  ~CurlMultiPool();
  CurlMultiPool(const CurlMultiPool&) = delete;
  CurlMultiPool& operator=(const CurlMultiPool&) = delete;

  [[nodiscard]] const balancer::HttpConnectionPolicy& policy() const { return policy_; }

  // Adding only arms curl's timer (armTimer with 0): the transfer starts from the loop's
  // timers phase (see armTimer), never inside add(), so nothing completes inside add().
  CURLMcode add(CURL* easy);
  // Removing a transfer mid-flight makes curl close its connection if the transfer had
  // it to itself (HTTP/1.1: it cannot be reused half-read; an HTTP/2 connection loses
  // only that stream). May call watchSocket(CURL_POLL_REMOVE) synchronously.
  void remove(CURL* easy);

  // Sockets curl currently asks us to watch (open connections with a poll handle).
  [[nodiscard]] std::size_t watchedSockets() const { return sockets_.size(); }
  // Transfers added and not yet removed.
  [[nodiscard]] std::size_t inFlight() const { return in_flight_; }

 private:
  struct Fns;  // the noexcept C trampolines (defined in the .cc)
  friend struct Fns;

  void watchSocket(curl_socket_t fd, int what, void* socketp);
  void armTimer(long timeout_ms);
  void onSocketEvent(curl_socket_t fd, int status, int events);
  void onTimer();
  void drainFinished();

  uv_loop_t* loop_;
  balancer::HttpConnectionPolicy policy_;
  Owner& owner_;
  CURLM* multi_ = nullptr;
  uv::HandlePtr<uv_timer_t> timer_;
  // fd -> its poll handle; curl holds the raw pointer too (curl_multi_assign), as socketp.
  std::unordered_map<curl_socket_t, uv::HandlePtr<uv_poll_t>> sockets_;
  std::size_t in_flight_ = 0;
};

}  // namespace celeriac::worker::http
