#include "worker/http/h2_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <utility>

#include "common/result.h"
#include "worker/http/http_reply_parts.h"

namespace celeriac::worker::http {

using balancer::HttpConnectionPolicy;
using balancer::HttpRequest;
using balancer::HttpRequestId;
using balancer::HttpResponse;
using balancer::TransportError;

namespace {

constexpr std::size_t kDefaultStreams = 100;  // curl's default, and nghttp2's assumption

std::uint64_t toNs(std::chrono::milliseconds ms) {
  return static_cast<std::uint64_t>(std::max<std::chrono::milliseconds::rep>(1, ms.count())) *
         1'000'000ULL;
}

struct ParsedUrl {
  H2Target target;
  std::string path;
};

// http[s]://host[:port]/path?query, parsed by libcurl's URL API.
common::Result<ParsedUrl> parseUrl(const std::string& url) {
  CURLU* u = curl_url();
  if (u == nullptr) return common::Error{"out of memory"};
  ParsedUrl out;
  bool ok = curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK;
  auto part = [&](CURLUPart which, unsigned flags, std::string& into) {
    char* value = nullptr;
    if (curl_url_get(u, which, &value, flags) == CURLUE_OK && value != nullptr) into = value;
    curl_free(value);
  };
  std::string scheme;
  std::string port;
  std::string query;
  if (ok) {
    part(CURLUPART_SCHEME, 0, scheme);
    part(CURLUPART_HOST, 0, out.target.host);
    part(CURLUPART_PORT, CURLU_DEFAULT_PORT, out.target.port);
    part(CURLUPART_PORT, 0, port);
    part(CURLUPART_PATH, 0, out.path);
    part(CURLUPART_QUERY, 0, query);
  }
  curl_url_cleanup(u);
  if (!ok || out.target.host.empty()) return common::Error{"not a valid URL"};
  if (scheme != "http" && scheme != "https") {
    return common::Error{"not an http:// or https:// URL"};
  }
  out.target.tls = scheme == "https";
  if (!query.empty()) out.path += "?" + query;
  // curl keeps IPv6 literals bracketed in the host part, as :authority wants them.
  out.target.authority = out.target.host + (port.empty() ? "" : ":" + port);
  if (out.target.host.size() > 2 && out.target.host.front() == '[') {
    out.target.host = out.target.host.substr(1, out.target.host.size() - 2);
  }
  return out;
}

}  // namespace

std::size_t H2Pool::streamsPerConnection() const {
  return policy.max_streams_per_connection > 0
             ? static_cast<std::size_t>(policy.max_streams_per_connection)
             : kDefaultStreams;
}

H2Transport::H2Transport(uv::UvDispatcher& dispatcher, H2TransportOptions options)
    : dispatcher_(dispatcher),
      options_(std::move(options)),
      deadline_timer_(uv::makeHandle<uv_timer_t>(dispatcher.loop(), this)),
      next_id_(options_.first_id) {}

H2Transport::~H2Transport() {
  lifetime_.revoke();  // posted settle() steps find us gone
  pools_.clear();      // connections close their sockets; their calls are dropped
  gone_.clear();
  calls_.clear();
}

std::size_t H2Transport::connections() const {
  std::size_t n = 0;
  for (const auto& pool : pools_) n += pool->connections.size();
  return n;
}

HttpRequestId H2Transport::send(HttpRequest request, std::function<void(HttpResponse)> on_done) {
  const HttpRequestId id = next_id_++;
  common::Result<ParsedUrl> parsed = parseUrl(request.url);
  if (!parsed) {
    failNow(std::move(on_done), TransportError::kOther, parsed.error().message);
    return id;
  }
  ParsedUrl& url = parsed.value();
  if (url.target.tls && tls_context_ == nullptr) {
    // Made on the first https:// call: loading the CA store costs time and memory that an
    // h2c-only worker never needs.
    auto context = TlsContext::create(options_.ca_file);
    if (!context) {
      failNow(std::move(on_done), TransportError::kConnectFailed, context.error().message);
      return id;
    }
    tls_context_ = std::move(context).value();
  }
  auto call = std::make_unique<H2Call>();
  call->id = id;
  call->on_done = std::move(on_done);
  call->method = std::move(request.method);
  call->path = std::move(url.path);
  call->headers = std::move(request.headers);
  call->body = std::move(request.body);
  call->max_body_bytes = options_.max_body_bytes;
  call->connect_timeout = request.connect_timeout;
  call->started_ns = uv_hrtime();
  call->deadline_ns = call->started_ns + toNs(request.total_timeout);
  H2Pool& pool = poolFor(request.connection, url.target);
  call->pool = &pool;
  const bool earliest = deadlines_.empty() || call->deadline_ns < deadlines_.begin()->first;
  deadlines_.emplace(call->deadline_ns, id);
  pool.waiting.push_back(call.get());
  calls_.emplace(id, std::move(call));
  if (earliest) armDeadlineTimer();
  pump(pool);  // submits or opens connections; never completes anything
  return id;
}

void H2Transport::cancel(HttpRequestId id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  H2Call& call = *it->second;
  if (call.connection != nullptr) {
    call.connection->detach(call);
    to_pump_.push_back(call.pool);  // its stream is free for a waiting call
  } else {
    removeWaiting(call);
  }
  fail(id, TransportError::kCancelled, "cancelled");
}

H2Pool& H2Transport::poolFor(const HttpConnectionPolicy& policy, const H2Target& target) {
  for (const auto& pool : pools_) {
    if (pool->policy == policy && pool->target.host == target.host &&
        pool->target.port == target.port && pool->target.tls == target.tls) {
      return *pool;
    }
  }
  auto pool = std::make_unique<H2Pool>();
  pool->policy = policy;
  pool->target = target;
  pools_.push_back(std::move(pool));
  return *pools_.back();
}

H2Pool* H2Transport::poolOf(const H2Connection& connection) {
  for (const auto& pool : pools_) {
    for (const auto& c : pool->connections) {
      if (c.get() == &connection) return pool.get();
    }
  }
  return nullptr;
}

// Puts waiting calls on free streams, in order, and opens a connection when the calls
// still waiting outnumber the streams that connections being set up will offer.
void H2Transport::pump(H2Pool& pool) {
  for (const auto& connection : pool.connections) {
    std::size_t free = connection->freeStreams();
    while (free > 0 && !pool.waiting.empty()) {
      H2Call* call = pool.waiting.front();
      if (!connection->submit(*call)) break;  // it takes no more calls
      pool.waiting.pop_front();
      --free;
    }
  }
  if (pool.waiting.empty()) return;
  std::size_t coming = 0;
  for (const auto& connection : pool.connections) {
    if (connection->connecting()) coming += connection->maxStreams();
  }
  const std::size_t limit = pool.policy.max_connections > 0
                                ? static_cast<std::size_t>(pool.policy.max_connections)
                                : SIZE_MAX;
  // Connections draining (after a GOAWAY, retired) do not count: their replacements
  // must not wait for them to finish.
  std::size_t counted = 0;
  for (const auto& connection : pool.connections) counted += connection->accepting() ? 1U : 0U;
  while (pool.waiting.size() > coming && counted < limit) {
    H2Connection::Owner& owner = *this;  // a private base: converted here, where it is visible
    auto connection = std::make_unique<H2Connection>(
        dispatcher_.loop(), owner, pool.target, pool.streamsPerConnection(), options_.user_agent,
        pool.target.tls ? tls_context_ : nullptr);
    connection->start(pool.waiting[coming]->connect_timeout);
    coming += connection->maxStreams();
    ++counted;
    pool.connections.push_back(std::move(connection));
  }
}

void H2Transport::removeWaiting(H2Call& call) {
  auto& waiting = call.pool->waiting;
  waiting.erase(std::remove(waiting.begin(), waiting.end(), &call), waiting.end());
}

void H2Transport::onConnectionReady(H2Connection& connection) {
  if (H2Pool* pool = poolOf(connection)) pump(*pool);
}

void H2Transport::onStreamsFreed(H2Connection& connection) {
  if (H2Pool* pool = poolOf(connection)) pump(*pool);
}

void H2Transport::onStreamEnded(H2Call& call, H2StreamEnd end) {
  switch (end) {
    case H2StreamEnd::kReplied:
      complete(call.id, std::move(call.response));
      return;
    case H2StreamEnd::kRefused:
      // Never processed, but the request was freed once written: the balancer's retry
      // sends it again, as after any reset.
      fail(call.id, TransportError::kConnectionReset,
           "stream refused by " + call.pool->target.authority + " before processing");
      return;
    case H2StreamEnd::kBodyTooLarge:
      fail(call.id, TransportError::kOther,
           "response body over " + std::to_string(call.max_body_bytes) + " bytes");
      return;
    case H2StreamEnd::kFailed:
      fail(call.id, call.response.error, call.response.error_detail);
      return;
  }
}

void H2Transport::onConnectionGone(H2Connection& connection, bool connected, TransportError error,
                                   const std::string& detail) {
  H2Pool* pool = poolOf(connection);
  if (pool == nullptr) return;
  auto it = std::find_if(pool->connections.begin(), pool->connections.end(),
                         [&](const auto& c) { return c.get() == &connection; });
  gone_.push_back(std::move(*it));  // destroyed in settle(): we are inside its callback
  pool->connections.erase(it);
  bool others_open = false;
  for (const auto& c : pool->connections) others_open = others_open || c->open();
  if (!connected && !others_open) {
    // No connection is up to carry the waiting calls: they fail as this one did, at
    // once. (Others still connecting most likely fail the same way; waiting for them
    // and opening more would only retry a dead address until the calls time out.)
    std::deque<H2Call*> waiting;
    waiting.swap(pool->waiting);
    for (H2Call* call : waiting) fail(call->id, error, detail);
  }
  to_pump_.push_back(pool);
  scheduleSettle();
}

void H2Transport::complete(HttpRequestId id, HttpResponse response) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  std::unique_ptr<H2Call> call = std::move(it->second);
  calls_.erase(it);
  auto [first, last] = deadlines_.equal_range(call->deadline_ns);
  for (auto d = first; d != last; ++d) {
    if (d->second == id) {
      deadlines_.erase(d);
      break;
    }
  }
  response.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::nanoseconds(uv_hrtime() - call->started_ns));
  done_.push_back(Done{std::move(call->on_done), std::move(response)});
  scheduleSettle();
}

void H2Transport::fail(HttpRequestId id, TransportError error, std::string detail) {
  complete(id, transportFailure(error, std::move(detail)));
}

void H2Transport::failNow(std::function<void(HttpResponse)> on_done, TransportError error,
                          std::string detail) {
  done_.push_back(Done{std::move(on_done), transportFailure(error, std::move(detail))});
  scheduleSettle();
}

void H2Transport::armDeadlineTimer() {
  if (deadlines_.empty()) {
    uv_timer_stop(deadline_timer_.get());
    return;
  }
  const std::uint64_t now = uv_hrtime();
  const std::uint64_t at = deadlines_.begin()->first;
  const std::uint64_t ms = at > now ? (at - now + 999'999) / 1'000'000 : 0;
  uv_timer_start(
      deadline_timer_.get(),
      [](uv_timer_t* t) noexcept { static_cast<H2Transport*>(t->data)->onDeadlines(); }, ms, 0);
}

void H2Transport::onDeadlines() {
  const std::uint64_t now = uv_hrtime();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const HttpRequestId id = deadlines_.begin()->second;
    H2Call& call = *calls_.at(id);
    if (call.connection != nullptr) {
      // A connection whose peer vanished without a word looks open until TCP gives up,
      // many minutes later: after a call on it ran out of time, new calls go to a fresh
      // one, and this one closes when its last stream ends.
      H2Connection& connection = *call.connection;  // detach() forgets it
      connection.detach(call);
      connection.retire();
      to_pump_.push_back(call.pool);
    } else {
      removeWaiting(call);
    }
    fail(id, TransportError::kTimeout,
         "no reply from " + call.pool->target.authority + " within the total timeout");
  }
  armDeadlineTimer();
}

void H2Transport::scheduleSettle() {
  if (settle_posted_) return;
  settle_posted_ = true;
  dispatcher_.post(lifetime_.guard([this] { settle(); }));
}

void H2Transport::settle() {
  settle_posted_ = false;
  gone_.clear();
  std::vector<H2Pool*> pools;
  pools.swap(to_pump_);
  for (H2Pool* pool : pools) pump(*pool);
  armDeadlineTimer();
  std::vector<Done> done;
  done.swap(done_);
  const common::LifetimeWatch life = lifetime_.watch();
  for (auto& d : done) {
    if (!life.alive()) return;  // a callback destroyed us: drop the rest
    d.on_done(std::move(d.response));
  }
}

}  // namespace celeriac::worker::http
