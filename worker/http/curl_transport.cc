#include "worker/http/curl_transport.h"

#include <curl/curl.h>

#include <mutex>
#include <stdexcept>

#include "worker/http/http_reply_parts.h"

namespace celeriac::worker::http {

using balancer::HttpConnectionPolicy;
using balancer::HttpRequest;
using balancer::HttpRequestId;
using balancer::HttpResponse;
using balancer::TransportError;

namespace {

void initCurlOnce() {
  // curl_global_init is not thread-safe before 7.84 with some TLS backends; call it
  // once, before any handle exists (curl's libcurl-tutorial "Global Preparation").
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) throw std::runtime_error("curl_global_init failed");
}

}  // namespace

CurlTransport::CurlTransport(uv::UvDispatcher& dispatcher, CurlTransportOptions options)
    : dispatcher_(dispatcher),
      options_(std::move(options)) {
  initCurlOnce();
  // The default policy's pool exists from the start, so a curl that cannot create a
  // multi handle fails at start-up, not on the first call.
  poolFor(HttpConnectionPolicy{});
}

CurlTransport::~CurlTransport() {
  lifetime_.revoke();  // posted completions now find us gone and drop their callbacks
  for (auto& [id, call] : calls_) {
    call->pool->remove(call->easy);
    curl_easy_cleanup(call->easy);
  }
  calls_.clear();
  for (CURL* easy : idle_easy_) curl_easy_cleanup(easy);
  idle_easy_.clear();
  pools_.clear();  // each closes its cached connections, sockets and timer
}

std::size_t CurlTransport::watchedSockets() const {
  std::size_t n = 0;
  for (const auto& pool : pools_) n += pool->watchedSockets();
  return n;
}

// One pool per policy, except HTTP/2 with a libcurl that upgrades h2c connections
// (h2cByUpgrade: Debian 12's 7.88.1): there each connection gets a pool of its own, and
// the policy's pools ("lanes") stand for its max_connections connections. The reason is a
// libcurl bug (fixed upstream by curl PR #11557, July 2023): once one connection to a
// host is HTTP/2, libcurl takes every other connection to that host for a multiplexed
// one, so a transfer started while a second connection still waits for its
// "101 Switching Protocols" is written on it as a second HTTP/1.1 request right behind
// the upgrade request (lib/url.c ConnectionExists skips the stream limit check for a
// connection not yet multiplexed). The server reads those bytes where the HTTP/2 client
// preface must be, fails the connection, and the upgrade request, which it had already
// accepted, is lost with it. With one connection per multi handle (and per host) no
// connection is ever the second one: while the first is upgrading the host's bundle
// says "not known yet" and CURLOPT_PIPEWAIT makes the others wait.
CurlMultiPool& CurlTransport::poolFor(const HttpConnectionPolicy& policy) {
  const bool lanes = policy.version == balancer::HttpVersion::kHttp2 && h2cByUpgrade();
  CurlMultiPool* least_busy = nullptr;
  std::size_t count = 0;
  // curl's own default for CURLMOPT_MAX_CONCURRENT_STREAMS is 100.
  const std::size_t streams = policy.max_streams_per_connection > 0
                                  ? static_cast<std::size_t>(policy.max_streams_per_connection)
                                  : 100;
  for (const auto& pool : pools_) {
    if (pool->policy() != policy) continue;
    if (!lanes) return *pool;
    ++count;
    // The first lane with a free stream, so few calls share one connection.
    if (pool->inFlight() < streams) return *pool;
    if (least_busy == nullptr || pool->inFlight() < least_busy->inFlight()) least_busy = pool.get();
  }
  const bool at_limit =
      policy.max_connections > 0 && count >= static_cast<std::size_t>(policy.max_connections);
  if (lanes && at_limit && least_busy != nullptr) return *least_busy;  // waits inside curl
  const long host_connections = lanes ? 1L : static_cast<long>(policy.max_connections);
  CurlMultiPool::Owner& owner = *this;  // a private base: converted here, where it is visible
  pools_.push_back(std::make_unique<CurlMultiPool>(dispatcher_.loop(), policy, host_connections,
                                                   options_.max_cached_connections, owner));
  return *pools_.back();
}

HttpRequestId CurlTransport::send(HttpRequest request, std::function<void(HttpResponse)> on_done) {
  const HttpRequestId id = next_id_++;
  CURL* easy = nullptr;
  if (!idle_easy_.empty()) {
    easy = idle_easy_.back();
    idle_easy_.pop_back();
  } else {
    easy = curl_easy_init();
  }
  if (easy == nullptr) {
    postCompletion(std::move(on_done), transportFailure(TransportError::kOther, "curl_easy_init failed"));
    return id;
  }
  CurlMultiPool* pool = nullptr;
  try {
    pool = &poolFor(request.connection);
  } catch (const std::runtime_error& e) {
    releaseEasy(easy);
    postCompletion(std::move(on_done), transportFailure(TransportError::kOther, e.what()));
    return id;
  }
  auto call = std::make_unique<CurlCall>();
  call->id = id;
  call->pool = pool;
  call->on_done = std::move(on_done);
  call->configure(easy, request,
                  CurlCallSettings{options_.max_body_bytes, options_.receive_buffer_bytes,
                                   &options_.user_agent, &options_.ca_file});
  // Adding only arms curl's timer: the transfer starts from the loop's timers phase, never
  // inside add(), so nothing can complete inside send().
  const CURLMcode added = pool->add(easy);
  if (added != CURLM_OK) {
    releaseEasy(easy);
    postCompletion(std::move(call->on_done),
                   transportFailure(TransportError::kOther,
                           std::string("curl_multi_add_handle: ") + curl_multi_strerror(added)));
    return id;
  }
  calls_.emplace(id, std::move(call));
  return id;
}

void CurlTransport::cancel(HttpRequestId id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // finished, cancelled or unknown: no-op
  std::unique_ptr<CurlCall> call = std::move(it->second);
  calls_.erase(it);
  // A half-read HTTP/1.1 connection is closed, never reused; on HTTP/2 only the stream
  // is reset. This may call the pool's watchSocket(CURL_POLL_REMOVE) synchronously.
  call->pool->remove(call->easy);
  releaseEasy(call->easy);
  call->easy = nullptr;
  HttpResponse cancelled = transportFailure(TransportError::kCancelled, "cancelled");
  cancelled.elapsed = call->elapsed();
  postCompletion(std::move(call->on_done), std::move(cancelled));
}

void CurlTransport::postCompletion(std::function<void(HttpResponse)> on_done,
                                   HttpResponse response) {
  dispatcher_.post(lifetime_.guard(
      [cb = std::move(on_done), resp = std::move(response)]() mutable { cb(std::move(resp)); }));
}

void CurlTransport::releaseEasy(CURL* easy) {
  if (idle_easy_.size() < options_.easy_pool_size) {
    // Reset drops every option (and our pointers into the finished call) but keeps the
    // handle's DNS cache and session ids; connections live in the pools' caches.
    curl_easy_reset(easy);
    idle_easy_.push_back(easy);
  } else {
    curl_easy_cleanup(easy);
  }
}

void CurlTransport::onFinished(std::vector<CurlFinished> finished) {
  // Remove every finished transfer first, call back after: callbacks may send, cancel
  // or destroy the transport (and the pool that called us).
  struct Done {
    std::function<void(HttpResponse)> on_done;
    HttpResponse response;
  };
  std::vector<Done> done;
  done.reserve(finished.size());
  for (const CurlFinished& f : finished) {
    char* priv = nullptr;
    curl_easy_getinfo(f.easy, CURLINFO_PRIVATE, &priv);
    auto it = calls_.find(reinterpret_cast<CurlCall*>(priv)->id);
    std::unique_ptr<CurlCall> call = std::move(it->second);
    calls_.erase(it);
    HttpResponse response = call->finish(f.code);
    call->pool->remove(f.easy);
    releaseEasy(f.easy);
    call->easy = nullptr;
    done.push_back(Done{std::move(call->on_done), std::move(response)});
  }
  const common::LifetimeWatch life = lifetime_.watch();
  for (auto& d : done) {
    if (!life.alive()) return;  // a callback destroyed us: drop the rest
    d.on_done(std::move(d.response));
  }
}

}  // namespace celeriac::worker::http
