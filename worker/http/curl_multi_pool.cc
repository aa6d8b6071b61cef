#include "worker/http/curl_multi_pool.h"

#include <cstdint>
#include <stdexcept>

namespace celeriac::worker::http {

// C trampolines. Each is noexcept: an exception must never unwind through curl or libuv.
struct CurlMultiPool::Fns {
  static int onSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* userp,
                      void* socketp) noexcept {
    static_cast<CurlMultiPool*>(userp)->watchSocket(fd, what, socketp);
    return 0;
  }

  static int onTimerRequest(CURLM* /*multi*/, long timeout_ms, void* userp) noexcept {
    // Never call curl_multi_socket_action from here (CURLMOPT_TIMERFUNCTION docs).
    static_cast<CurlMultiPool*>(userp)->armTimer(timeout_ms);
    return 0;
  }

  static void onPoll(uv_poll_t* poll, int status, int events) noexcept {
    auto* self = static_cast<CurlMultiPool*>(poll->data);
    if (self == nullptr) return;  // closing
    uv_os_fd_t fd = -1;
    uv_fileno(reinterpret_cast<uv_handle_t*>(poll), &fd);
    self->onSocketEvent(fd, status, events);
  }

  static void onUvTimer(uv_timer_t* timer) noexcept {
    auto* self = static_cast<CurlMultiPool*>(timer->data);
    if (self != nullptr) self->onTimer();
  }
};

CurlMultiPool::CurlMultiPool(uv_loop_t* loop, const balancer::HttpConnectionPolicy& policy,
                             long host_connections, long max_cached_connections, Owner& owner)
    : loop_(loop), policy_(policy), owner_(owner) {
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
  timer_ = uv::makeHandle<uv_timer_t>(loop_, this);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Fns::onSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Fns::onTimerRequest);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  // HTTP/2 streams share a connection; HTTP/1.1 transfers take turns on kept-alive ones.
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
  if (host_connections > 0) {
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, host_connections);
  }
  if (policy_.max_streams_per_connection > 0) {
    // curl uses the smaller of this and the server's SETTINGS_MAX_CONCURRENT_STREAMS.
    curl_multi_setopt(multi_, CURLMOPT_MAX_CONCURRENT_STREAMS,
                      static_cast<long>(policy_.max_streams_per_connection));
  }
  if (max_cached_connections > 0) {
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, max_cached_connections);
  }
}

CurlMultiPool::~CurlMultiPool() {
  // Stop watching before curl closes the cached connections' sockets: a uv_poll must not
  // outlive its fd's watch (libuv poll.rst), and curl must not call back into a dying
  // object, so its callbacks are unset first.
  for (auto& [fd, poll] : sockets_) poll->data = nullptr;
  sockets_.clear();  // closing a poll handle stops its watch at once
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, nullptr);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, nullptr);
  curl_multi_cleanup(multi_);
  timer_->data = nullptr;
  timer_.reset();
}

CURLMcode CurlMultiPool::add(CURL* easy) {
  const CURLMcode added = curl_multi_add_handle(multi_, easy);
  if (added == CURLM_OK) ++in_flight_;
  return added;
}

void CurlMultiPool::remove(CURL* easy) {
  if (curl_multi_remove_handle(multi_, easy) == CURLM_OK && in_flight_ > 0) --in_flight_;
}

void CurlMultiPool::watchSocket(curl_socket_t fd, int what, void* socketp) {
  auto* poll = static_cast<uv_poll_t*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (poll != nullptr) {
      // curl calls this before it closes the socket, so the watch ends first: closing
      // the handle (erasing its owner) stops it at once.
      poll->data = nullptr;
      sockets_.erase(fd);
      curl_multi_assign(multi_, fd, nullptr);
    }
    return;
  }
  if (poll == nullptr) {
    auto made = uv::tryMakeHandle<uv_poll_t>(loop_, this, static_cast<uv_os_sock_t>(fd));
    // Not watchable (should not happen for a socket curl opened): the transfer will end
    // through curl's own timeout.
    if (!made) return;
    poll = made.value().get();
    sockets_[fd] = std::move(made).value();
    curl_multi_assign(multi_, fd, poll);
  }
  int events = 0;
  if ((what & CURL_POLL_IN) != 0) events |= UV_READABLE;
  if ((what & CURL_POLL_OUT) != 0) events |= UV_WRITABLE;
  uv_poll_start(poll, events, &Fns::onPoll);
}

void CurlMultiPool::armTimer(long timeout_ms) {
  if (timeout_ms < 0) {
    uv_timer_stop(timer_.get());
    return;
  }
  // 0 means "call socket_action as soon as possible, but not from inside this callback"
  // (CURLMOPT_TIMERFUNCTION): uv_timer_start never calls back synchronously, so a 0 ms
  // timer does that. It runs in the loop's next timers phase; armed from inside onTimer
  // (curl asking again at once), libuv 1.44 (Debian 12) runs it again in the SAME timers
  // phase, before any I/O is polled. curl's multi-uv.c example bumps 0 to 1 ms; we keep
  // 0 so that a new transfer starts without waiting a millisecond.
  uv_timer_start(timer_.get(), &Fns::onUvTimer, static_cast<std::uint64_t>(timeout_ms), 0);
}

void CurlMultiPool::onSocketEvent(curl_socket_t fd, int status, int events) {
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if ((events & UV_READABLE) != 0) flags |= CURL_CSELECT_IN;
    if ((events & UV_WRITABLE) != 0) flags |= CURL_CSELECT_OUT;
  }
  int running = 0;
  curl_multi_socket_action(multi_, fd, flags, &running);
  drainFinished();  // last: the owner may destroy this pool
}

void CurlMultiPool::onTimer() {
  int running = 0;
  curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  drainFinished();  // last: the owner may destroy this pool
}

void CurlMultiPool::drainFinished() {
  // Collect first, hand over after: the owner removes handles, calls back, may destroy
  // us, none of which may happen while curl_multi_info_read is being walked.
  std::vector<CurlFinished> finished;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg == CURLMSG_DONE) finished.push_back({msg->easy_handle, msg->data.result});
  }
  if (!finished.empty()) owner_.onFinished(std::move(finished));
}

}  // namespace celeriac::worker::http
