#include "worker/http/h2_connection.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/http/h2_request_headers.h"
#include "worker/http/http_reply_parts.h"

namespace celeriac::worker::http {

using balancer::HttpHeader;
using balancer::TransportError;

namespace {

std::string_view bytesView(const std::uint8_t* data, std::size_t len) {
  return {reinterpret_cast<const char*>(data), len};
}

}  // namespace

struct H2Connection::Fns {
  static H2Call* callOf(nghttp2_session* session, std::int32_t stream_id) {
    return static_cast<H2Call*>(nghttp2_session_get_stream_user_data(session, stream_id));
  }

  static int onHeader(nghttp2_session* session, const nghttp2_frame* frame,
                      const std::uint8_t* name, std::size_t namelen, const std::uint8_t* value,
                      std::size_t valuelen, std::uint8_t /*flags*/, void* /*user*/) noexcept {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    H2Call* call = callOf(session, frame->hd.stream_id);
    if (call == nullptr) return 0;  // detached (cancelled, timed out)
    const std::string_view n = bytesView(name, namelen);
    const std::string_view v = bytesView(value, valuelen);
    if (n == ":status") {
      int status = 0;
      std::from_chars(v.data(), v.data() + v.size(), status);
      if (status >= 100 && status < 200) return 0;  // an interim reply: the real one follows
      call->response.status = status;
      call->response.headers.clear();
      return 0;
    }
    if (headerNameIs(n, "content-length")) {
      // Size the body once, to what the server announced (never past the cap).
      std::size_t announced = 0;
      const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), announced);
      if (ec == std::errc{} && p == v.data() + v.size()) {
        call->response.body.reserve(std::min(announced, call->max_body_bytes));
      }
    }
    call->response.headers.push_back(HttpHeader{std::string(n), std::string(v)});
    return 0;
  }

  static int onData(nghttp2_session* session, std::uint8_t /*flags*/, std::int32_t stream_id,
                    const std::uint8_t* data, std::size_t len, void* /*user*/) noexcept {
    H2Call* call = callOf(session, stream_id);
    if (call == nullptr || call->body_too_large) return 0;
    if (call->response.body.size() + len > call->max_body_bytes) {
      call->body_too_large = true;
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
      return 0;
    }
    call->response.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int onStreamClose(nghttp2_session* /*session*/, std::int32_t stream_id,
                           std::uint32_t error_code, void* user) noexcept {
    static_cast<H2Connection*>(user)->onStreamClose(stream_id, error_code);
    return 0;
  }

  static int onFrameRecv(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                         void* user) noexcept {
    auto* self = static_cast<H2Connection*>(user);
    if (frame->hd.type == NGHTTP2_GOAWAY) self->accepting_ = false;
    return 0;
  }

  static ssize_t readBody(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                          std::size_t length, std::uint32_t* data_flags,
                          nghttp2_data_source* /*source*/, void* /*user*/) noexcept {
    H2Call* call = callOf(session, stream_id);
    if (call == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::size_t n = std::min(length, call->body.size() - call->body_sent);
    std::memcpy(buf, call->body.data() + call->body_sent, n);
    call->body_sent += n;
    if (call->body_sent == call->body.size()) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      call->releaseRequest();  // nghttp2 has the last bytes now
    }
    return static_cast<ssize_t>(n);
  }
};

H2Connection::H2Connection(uv_loop_t* loop, Owner& owner, H2Target target,
                           std::size_t max_streams, std::string user_agent,
                           std::shared_ptr<TlsContext> tls)
    : loop_(loop),
      owner_(owner),
      target_(std::move(target)),
      max_streams_(std::max<std::size_t>(1, max_streams)),
      user_agent_(std::move(user_agent)),
      tls_context_(std::move(tls)) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Fns::onHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Fns::onData);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Fns::onStreamClose);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Fns::onFrameRecv);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Until the server's SETTINGS arrive nghttp2 assumes 100 streams; assume ours instead,
  // and let the server's SETTINGS lower it (nghttp2 then holds the excess back itself).
  nghttp2_option_set_peer_max_concurrent_streams(option, static_cast<std::uint32_t>(max_streams_));
  nghttp2_session_client_new2(&session_, cbs, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(cbs);
  const std::array<nghttp2_settings_entry, 2> settings{{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1U << 20},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 1 << 26);
}

H2Connection::~H2Connection() {
  lifetime_.revoke();  // a resolver still running finds us gone
  // Not started yet in the thread pool: it never runs (its callback still comes, with
  // UV_EAI_CANCELED, and frees it). Running: it finishes on its own.
  if (resolving_ != nullptr) uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
  if (addresses_ != nullptr) uv_freeaddrinfo(addresses_);
  nghttp2_session_del(session_);
  // socket_ and the timers close themselves. Callbacks still to come (a pending or
  // failed write, a pending connect, the resolver) free only their own memory: each
  // checks this lifetime, or is cancelled by the close, before touching the connection.
}

std::size_t H2Connection::freeStreams() const {
  if (state_ != State::kOpen || !accepting_) return 0;
  const std::size_t server_max =
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  const std::size_t limit = std::min(max_streams_, server_max);
  return streams_.size() >= limit ? 0 : limit - streams_.size();
}

bool H2Connection::submit(H2Call& call) {
  const H2RequestHeaders headers(call, target_.tls ? "https" : "http", target_.authority,
                                 user_agent_);
  nghttp2_data_provider body{};
  body.read_callback = &Fns::readBody;
  const bool has_body = !call.body.empty();
  const std::int32_t id =
      nghttp2_submit_request(session_, nullptr, headers.nva().data(), headers.nva().size(),
                             has_body ? &body : nullptr, &call);
  if (id < 0) {
    // Stream ids used up, or the session is going away: no more calls here.
    retire();
    return false;
  }
  if (!has_body) call.releaseRequest();  // HEADERS carry it all; nghttp2 copied them
  call.connection = this;
  call.stream_id = id;
  streams_.emplace(id, &call);
  flush();
  return true;
}

void H2Connection::detach(H2Call& call) {
  streams_.erase(call.stream_id);
  nghttp2_session_set_stream_user_data(session_, call.stream_id, nullptr);
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, call.stream_id, NGHTTP2_CANCEL);
  call.connection = nullptr;
  call.stream_id = 0;
  flush();
  retireIfDrained();
}

void H2Connection::retire() {
  accepting_ = false;
  retireIfDrained();
}

void H2Connection::retireIfDrained() {
  // One that takes no more calls and carries none would never end by itself, and would
  // hold its place in the pool.
  if (!accepting_ && streams_.empty()) {
    failSoon(TransportError::kConnectionReset, "connection to " + target_.authority + " retired");
  }
}

void H2Connection::onRead(ssize_t nread) {
  if (nread == 0) return;  // EAGAIN
  if (nread < 0) {
    fail(TransportError::kConnectionReset,
         nread == UV_EOF ? "connection closed by " + target_.authority
                         : "connection to " + target_.authority + " lost: " +
                               uv_strerror(static_cast<int>(nread)));
    return;
  }
  std::string_view bytes(read_buffer_.data(), static_cast<std::size_t>(nread));
  common::Result<void> tls_read;
  if (tls_ != nullptr) {
    tls_->receive(bytes.data(), bytes.size());
    if (state_ == State::kHandshaking) {
      handshakeStep();
      if (state_ != State::kOpen) return;
      // Records after the handshake's last may have come in the same read: go on.
    }
    plain_.clear();
    tls_read = tls_->decrypt(plain_);  // what it decrypted before an error still counts
    bytes = plain_;
  }
  if (state_ != State::kOpen) return;
  const ssize_t used = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  if (used < 0) {
    fail(TransportError::kConnectionReset,
         std::string("HTTP/2 protocol error from ") + target_.authority + ": " +
             nghttp2_strerror(static_cast<int>(used)));
    return;
  }
  flush();  // window updates, SETTINGS acks, pings
  if (state_ == State::kGone) return;
  if (!tls_read) {
    fail(TransportError::kConnectionReset,
         "connection to " + target_.authority + " lost: " + tls_read.error().message);
    return;
  }
  if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
    fail(TransportError::kConnectionReset, "connection to " + target_.authority + " ended");
    return;
  }
  if (!accepting_ && streams_.empty()) {
    // After a GOAWAY (or with stream ids used up) and its last stream done: make room
    // in the pool for a fresh connection.
    fail(TransportError::kConnectionReset, "connection to " + target_.authority + " retired");
    return;
  }
  // A stream freed, or a GOAWAY: either way the owner may place waiting calls now (on
  // this connection, or on a new one beside a draining one).
  if (freeStreams() > 0 || !accepting_) owner_.onStreamsFreed(*this);
}

void H2Connection::onStreamClose(std::int32_t stream_id, std::uint32_t error_code) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;  // detached
  H2Call& call = *it->second;
  streams_.erase(it);
  call.connection = nullptr;
  call.stream_id = 0;
  H2StreamEnd end = H2StreamEnd::kReplied;
  if (call.body_too_large) {
    end = H2StreamEnd::kBodyTooLarge;
  } else if (error_code == NGHTTP2_REFUSED_STREAM) {
    end = H2StreamEnd::kRefused;
  } else if (error_code != NGHTTP2_NO_ERROR || call.response.status == 0) {
    end = H2StreamEnd::kFailed;
    call.response.error = TransportError::kConnectionReset;
    call.response.error_detail = "stream reset by " + target_.authority + " (HTTP/2 error " +
                                 nghttp2_http2_strerror(error_code) + ")";
  }
  owner_.onStreamEnded(call, end);
}

}  // namespace celeriac::worker::http
