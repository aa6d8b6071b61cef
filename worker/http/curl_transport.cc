#include "worker/http/curl_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include "worker/uv/uv_handle.h"

namespace celeriac::worker::http {

using balancer::HttpHeader;
using balancer::HttpRequest;
using balancer::HttpRequestId;
using balancer::HttpResponse;
using balancer::TransportError;

struct CurlTransport::Request {
  HttpRequestId id = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;  // borrowed by curl until the transfer is removed
  std::string body;               // CURLOPT_POSTFIELDS points into it
  std::function<void(HttpResponse)> on_done;
  HttpResponse response;
  std::size_t max_body_bytes = 0;
  bool body_too_large = false;
  std::uint64_t started_ns = 0;
  std::array<char, CURL_ERROR_SIZE> error{};

  Request() = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request() { curl_slist_free_all(headers); }
};

namespace {

CURLM* asMulti(void* p) { return static_cast<CURLM*>(p); }

std::chrono::microseconds sinceNs(std::uint64_t started_ns) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::nanoseconds(uv_hrtime() - started_ns));
}

long clampMs(std::chrono::milliseconds ms) {
  // 0 means "never time out" to curl; a spent deadline must mean the opposite.
  return static_cast<long>(std::max<std::chrono::milliseconds::rep>(1, ms.count()));
}

TransportError mapCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return TransportError::kConnectFailed;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::kTimeout;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return TransportError::kConnectionReset;
    default:
      return TransportError::kOther;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

void initCurlOnce() {
  // curl_global_init is not thread-safe before 7.84 with some TLS backends; call it
  // once, before any handle exists (curl's libcurl-tutorial "Global Preparation").
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) throw std::runtime_error("curl_global_init failed");
}

}  // namespace

// C trampolines. Each is noexcept: an exception must never unwind through curl or libuv.
struct CurlTransport::CurlFns {
  static int onSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* userp,
                      void* socketp) noexcept {
    static_cast<CurlTransport*>(userp)->watchSocket(fd, what, socketp);
    return 0;
  }

  static int onTimerRequest(CURLM* /*multi*/, long timeout_ms, void* userp) noexcept {
    // Never call curl_multi_socket_action from here (CURLMOPT_TIMERFUNCTION docs).
    static_cast<CurlTransport*>(userp)->armTimer(timeout_ms);
    return 0;
  }

  static void onPoll(uv_poll_t* poll, int status, int events) noexcept {
    auto* self = static_cast<CurlTransport*>(poll->data);
    if (self == nullptr) return;  // closing
    uv_os_fd_t fd = -1;
    uv_fileno(reinterpret_cast<uv_handle_t*>(poll), &fd);
    self->onSocketEvent(fd, status, events);
  }

  static void onUvTimer(uv_timer_t* timer) noexcept {
    auto* self = static_cast<CurlTransport*>(timer->data);
    if (self != nullptr) self->onTimer();
  }

  static std::size_t onBody(char* data, std::size_t size, std::size_t count, void* userp) noexcept {
    auto* r = static_cast<Request*>(userp);
    const std::size_t n = size * count;
    if (r->response.body.size() + n > r->max_body_bytes) {
      r->body_too_large = true;
      return 0;  // CURLE_WRITE_ERROR
    }
    r->response.body.append(data, n);
    return n;
  }

  static std::size_t onHeader(char* data, std::size_t size, std::size_t count,
                              void* userp) noexcept {
    auto* r = static_cast<Request*>(userp);
    const std::size_t n = size * count;
    const std::string_view line(data, n);
    if (line.rfind("HTTP/", 0) == 0) {
      // A new status line: an interim 1xx or a redirect came before. Keep only the last
      // response's headers (CURLOPT_HEADERFUNCTION is called for every response).
      r->response.headers.clear();
      return n;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return n;  // blank line ending the block
    r->response.headers.push_back(HttpHeader{std::string(trim(line.substr(0, colon))),
                                             std::string(trim(line.substr(colon + 1)))});
    return n;
  }
};

CurlTransport::CurlTransport(uv::UvDispatcher& dispatcher, CurlTransportOptions options)
    : dispatcher_(dispatcher),
      options_(std::move(options)),
      multi_(nullptr),
      timer_(new uv_timer_t),
      alive_(std::make_shared<CurlTransport*>(this)) {
  initCurlOnce();
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) {
    delete timer_;
    throw std::runtime_error("curl_multi_init failed");
  }
  multi_ = multi;
  uv_timer_init(dispatcher_.loop(), timer_);
  timer_->data = this;
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &CurlFns::onSocket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &CurlFns::onTimerRequest);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
  if (options_.max_host_connections > 0) {
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections);
  }
  if (options_.max_cached_connections > 0) {
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options_.max_cached_connections);
  }
}

CurlTransport::~CurlTransport() {
  alive_.reset();  // posted completions now find us gone and drop their callbacks
  CURLM* multi = asMulti(multi_);
  for (auto& [id, request] : requests_) {
    curl_multi_remove_handle(multi, request->easy);
    curl_easy_cleanup(request->easy);
  }
  requests_.clear();
  for (void* easy : idle_easy_) curl_easy_cleanup(static_cast<CURL*>(easy));
  idle_easy_.clear();
  // Stop watching before curl closes the cached connections' sockets: a uv_poll must not
  // outlive its fd's watch (libuv poll.rst), and curl must not call back into a dying
  // object, so its callbacks are unset first.
  for (auto& [fd, poll] : sockets_) {
    poll->data = nullptr;
    uv_poll_stop(poll);
    uv::closeAndDelete(poll);
  }
  sockets_.clear();
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, nullptr);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, nullptr);
  curl_multi_cleanup(multi);
  timer_->data = nullptr;
  uv_timer_stop(timer_);
  uv::closeAndDelete(timer_);
}

HttpRequestId CurlTransport::send(HttpRequest request, std::function<void(HttpResponse)> on_done) {
  const HttpRequestId id = next_id_++;
  auto r = std::make_unique<Request>();
  r->id = id;
  r->on_done = std::move(on_done);
  r->max_body_bytes = options_.max_body_bytes;
  r->started_ns = uv_hrtime();
  r->body = std::move(request.body);

  CURL* easy = nullptr;
  if (!idle_easy_.empty()) {
    easy = static_cast<CURL*>(idle_easy_.back());
    idle_easy_.pop_back();
  } else {
    easy = curl_easy_init();
  }
  if (easy == nullptr) {
    HttpResponse failed;
    failed.error = TransportError::kOther;
    failed.error_detail = "curl_easy_init failed";
    postCompletion(std::move(r->on_done), std::move(failed));
    return id;
  }
  r->easy = easy;

  for (const auto& h : request.headers) {
    const std::string line = h.name + ": " + h.value;
    r->headers = curl_slist_append(r->headers, line.c_str());
  }
  // Without this curl sends "Expect: 100-continue" for bodies over 1 KiB on HTTP/1.1 and
  // waits up to a second for the interim answer (everything.curl.dev, "Expect: 100").
  r->headers = curl_slist_append(r->headers, "Expect:");

  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, r.get());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, clampMs(request.connect_timeout));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, clampMs(request.total_timeout));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->headers);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->error.data());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &CurlFns::onBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, r.get());
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &CurlFns::onHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, r.get());
  if (request.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else {
    if (request.method != "POST") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method == "POST" || !r->body.empty()) {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r->body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r->body.size()));
    }
  }

  // Adding only arms curl's timer (armTimer with 0): the transfer starts on a later
  // loop turn, so nothing can complete inside send().
  const CURLMcode added = curl_multi_add_handle(asMulti(multi_), easy);
  if (added != CURLM_OK) {
    HttpResponse failed;
    failed.error = TransportError::kOther;
    failed.error_detail = std::string("curl_multi_add_handle: ") + curl_multi_strerror(added);
    releaseEasy(easy);
    postCompletion(std::move(r->on_done), std::move(failed));
    return id;
  }
  requests_.emplace(id, std::move(r));
  return id;
}

void CurlTransport::cancel(HttpRequestId id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;  // finished, cancelled or unknown: no-op
  std::unique_ptr<Request> r = std::move(it->second);
  requests_.erase(it);
  // Removing a transfer mid-flight makes curl close its connection (it cannot be reused
  // half-read). This may call watchSocket(CURL_POLL_REMOVE) synchronously.
  curl_multi_remove_handle(asMulti(multi_), r->easy);
  releaseEasy(r->easy);
  r->easy = nullptr;
  HttpResponse cancelled;
  cancelled.error = TransportError::kCancelled;
  cancelled.error_detail = "cancelled";
  cancelled.elapsed = sinceNs(r->started_ns);
  postCompletion(std::move(r->on_done), std::move(cancelled));
}

void CurlTransport::postCompletion(std::function<void(HttpResponse)> on_done,
                                   HttpResponse response) {
  dispatcher_.post([weak = std::weak_ptr<CurlTransport*>(alive_), cb = std::move(on_done),
                    resp = std::move(response)]() mutable {
    if (weak.expired()) return;
    cb(std::move(resp));
  });
}

void CurlTransport::releaseEasy(void* easy) {
  auto* e = static_cast<CURL*>(easy);
  if (idle_easy_.size() < options_.easy_pool_size) {
    // Reset drops every option (and our pointers into the finished Request) but keeps
    // the handle's DNS cache and session ids; connections live in the multi's cache.
    curl_easy_reset(e);
    idle_easy_.push_back(e);
  } else {
    curl_easy_cleanup(e);
  }
}

void CurlTransport::watchSocket(int fd, int what, void* socketp) {
  auto* poll = static_cast<uv_poll_t*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (poll != nullptr) {
      // curl calls this before it closes the socket, so the watch ends first.
      poll->data = nullptr;
      uv_poll_stop(poll);
      uv::closeAndDelete(poll);
      sockets_.erase(fd);
      curl_multi_assign(asMulti(multi_), fd, nullptr);
    }
    return;
  }
  if (poll == nullptr) {
    poll = new uv_poll_t;
    if (uv_poll_init_socket(dispatcher_.loop(), poll, fd) != 0) {
      // Not watchable (should not happen for a socket curl opened): the transfer will
      // end through curl's own timeout.
      delete poll;
      return;
    }
    poll->data = this;
    sockets_[fd] = poll;
    curl_multi_assign(asMulti(multi_), fd, poll);
  }
  int events = 0;
  if ((what & CURL_POLL_IN) != 0) events |= UV_READABLE;
  if ((what & CURL_POLL_OUT) != 0) events |= UV_WRITABLE;
  uv_poll_start(poll, events, &CurlFns::onPoll);
}

void CurlTransport::armTimer(long timeout_ms) {
  if (timeout_ms < 0) {
    uv_timer_stop(timer_);
    return;
  }
  // 0 means "call socket_action as soon as possible": a 0 ms uv timer runs on the next
  // timers phase of the loop, never synchronously.
  uv_timer_start(timer_, &CurlFns::onUvTimer, static_cast<std::uint64_t>(timeout_ms), 0);
}

void CurlTransport::onSocketEvent(int fd, int status, int events) {
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if ((events & UV_READABLE) != 0) flags |= CURL_CSELECT_IN;
    if ((events & UV_WRITABLE) != 0) flags |= CURL_CSELECT_OUT;
  }
  int running = 0;
  curl_multi_socket_action(asMulti(multi_), fd, flags, &running);
  drainCompleted();  // last: a callback may destroy this transport
}

void CurlTransport::onTimer() {
  int running = 0;
  curl_multi_socket_action(asMulti(multi_), CURL_SOCKET_TIMEOUT, 0, &running);
  drainCompleted();  // last: a callback may destroy this transport
}

void CurlTransport::drainCompleted() {
  // Collect first, call back after: callbacks may send, cancel or destroy the transport,
  // none of which may happen while curl_multi_info_read is being walked.
  struct Done {
    std::function<void(HttpResponse)> on_done;
    HttpResponse response;
  };
  std::vector<Done> done;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(asMulti(multi_), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode code = msg->data.result;
    char* priv = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    auto* raw = reinterpret_cast<Request*>(priv);
    auto it = requests_.find(raw->id);
    std::unique_ptr<Request> r = std::move(it->second);
    requests_.erase(it);
    HttpResponse& resp = r->response;
    resp.elapsed = sinceNs(r->started_ns);
    if (code == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      resp.status = static_cast<int>(status);
    } else {
      resp.error = r->body_too_large ? TransportError::kOther : mapCurlError(code);
      resp.error_detail = curl_easy_strerror(code);
      if (r->body_too_large) {
        resp.error_detail += ": response body over " + std::to_string(r->max_body_bytes) + " bytes";
      } else if (r->error[0] != '\0') {
        resp.error_detail.append(": ").append(r->error.data());
      }
      resp.status = 0;
      resp.headers.clear();
      resp.body.clear();
    }
    curl_multi_remove_handle(asMulti(multi_), easy);
    releaseEasy(easy);
    r->easy = nullptr;
    done.push_back(Done{std::move(r->on_done), std::move(resp)});
  }
  if (done.empty()) return;
  const std::weak_ptr<CurlTransport*> alive = alive_;
  for (auto& d : done) {
    if (alive.expired()) return;  // a callback destroyed us: drop the rest
    d.on_done(std::move(d.response));
  }
}

}  // namespace celeriac::worker::http
