// H2Session: HTTP/2 streams over one connection (see h2_session.h).

#include "h2_session.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

namespace celeriac::testing::stub {
namespace {

// A uv timer for one stream. It names its stream by id, not by pointer: the stream may
// be gone when a timer callback that was already due runs.
struct StreamTimer {
  uv_timer_t handle{};
  H2Session* session = nullptr;
  std::int32_t stream_id = 0;
};

// Framing is HTTP/2's own; these HTTP/1.1 connection headers are forbidden in it
// (RFC 9113 section 8.2.2).
bool connectionSpecific(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "transfer-encoding" || lower_name == "upgrade" ||
         lower_name == "proxy-connection" || lower_name == "content-length" ||
         lower_name == "content-type";
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

nghttp2_nv nv(const std::string& name, const std::string& value) {
  // nghttp2 copies name and value while submitting (NGHTTP2_NV_FLAG_NONE).
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

struct H2Session::Stream {
  std::int32_t id = 0;
  HttpRequest request;
  bool body_too_large = false;
  std::optional<Reply> reply;
  bool delivering = false;   // the response was submitted (the delay is over)
  std::string out;           // the response body
  std::size_t sent = 0;      // body bytes handed to nghttp2
  std::size_t released = 0;  // body bytes the data source may hand out (slow drip)
  bool all_sent = false;     // END_STREAM went out with the last byte
  StreamTimer* timer = nullptr;
};

struct H2Session::Callbacks {
  static H2Session* self(void* user_data) { return static_cast<H2Session*>(user_data); }

  static Stream* find(H2Session* s, std::int32_t id) {
    auto it = s->streams_.find(id);
    return it == s->streams_.end() ? nullptr : it->second.get();
  }

  static int onBeginHeaders(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                            void* user_data) noexcept {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    auto stream = std::make_unique<Stream>();
    stream->id = frame->hd.stream_id;
    self(user_data)->streams_[frame->hd.stream_id] = std::move(stream);
    return 0;
  }

  static int onHeader(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                      const std::uint8_t* name, std::size_t namelen, const std::uint8_t* value,
                      std::size_t valuelen, std::uint8_t /*flags*/, void* user_data) noexcept {
    Stream* s = find(self(user_data), frame->hd.stream_id);
    if (s == nullptr) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":method") {
      s->request.method = std::move(v);
    } else if (n == ":path") {
      s->request.url = std::move(v);
    } else if (n == ":authority") {
      s->request.headers.push_back(HttpHeader{"host", std::move(v)});
    } else if (!n.starts_with(':')) {
      // HTTP/2 header names are lower case on the wire (nghttp2 rejects others).
      s->request.headers.push_back(HttpHeader{std::string(n), std::move(v)});
    }
    return 0;
  }

  static int onDataChunk(nghttp2_session* /*session*/, std::uint8_t /*flags*/,
                         std::int32_t stream_id, const std::uint8_t* data, std::size_t len,
                         void* user_data) noexcept {
    H2Session* h = self(user_data);
    Stream* s = find(h, stream_id);
    if (s == nullptr) return 0;
    if (s->request.body.size() + len > h->max_body_bytes_) {
      s->body_too_large = true;  // answered with 413 once the stream ends
      return 0;
    }
    s->request.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int onFrameRecv(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                         void* user_data) noexcept {
    const bool request_frame = frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA;
    if (!request_frame || (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    H2Session* h = self(user_data);
    if (Stream* s = find(h, frame->hd.stream_id)) h->requestComplete(*s);
    return 0;
  }

  static int onStreamClose(nghttp2_session* /*session*/, std::int32_t stream_id,
                           std::uint32_t error_code, void* user_data) noexcept {
    self(user_data)->closeStream(stream_id, error_code);
    return 0;
  }

  static ssize_t readBody(nghttp2_session* /*session*/, std::int32_t stream_id, std::uint8_t* buf,
                          std::size_t length, std::uint32_t* data_flags,
                          nghttp2_data_source* /*source*/, void* user_data) noexcept {
    Stream* s = find(self(user_data), stream_id);
    if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::size_t limit = std::min(s->released, s->out.size());
    if (s->sent >= limit && s->sent < s->out.size()) return NGHTTP2_ERR_DEFERRED;
    const std::size_t n = std::min(length, limit - s->sent);
    std::memcpy(buf, s->out.data() + s->sent, n);
    s->sent += n;
    if (s->sent == s->out.size()) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      s->all_sent = true;
    }
    return static_cast<ssize_t>(n);
  }

  static void onTimer(uv_timer_t* handle) noexcept {
    auto* t = reinterpret_cast<StreamTimer*>(handle);
    if (t->session != nullptr) t->session->onStreamTimer(t->stream_id);
  }
};

H2Session::H2Session(uv_loop_t* loop, RequestHandler& handler, Io io, std::size_t max_body_bytes)
    : loop_(loop), handler_(handler), io_(std::move(io)), max_body_bytes_(max_body_bytes) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::onHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::onStreamClose);
  nghttp2_session_server_new(&session_, cbs, this);
  nghttp2_session_callbacks_del(cbs);
  // Many streams at once, and windows wide enough that thousands of prompt bodies on
  // one connection do not wait for WINDOW_UPDATE round trips.
  const std::array<nghttp2_settings_entry, 2> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 1 << 26);
}

H2Session::~H2Session() {
  dropAll();
  nghttp2_session_del(session_);
}

void H2Session::receive(const char* data, std::size_t len) {
  if (dropped_) return;
  in_receive_ = true;
  const ssize_t n =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), len);
  in_receive_ = false;
  flush();  // answers, SETTINGS acks, WINDOW_UPDATEs, or the GOAWAY of a protocol error
  if (n < 0 && !dropped_) io_.close();
}

std::optional<std::string> H2Session::base64Url(std::string_view text) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '-') v = 62;
    if (c == '_') v = 63;
    if (c == '=') break;  // padding is not sent, but tolerated
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xffu));
    }
  }
  return out;
}

bool H2Session::upgrade(HttpRequest request, const std::string& settings) {
  const std::optional<std::string> payload = base64Url(settings);
  if (!payload) return false;
  const int head = request.method == "HEAD" ? 1 : 0;
  if (nghttp2_session_upgrade2(session_, reinterpret_cast<const std::uint8_t*>(payload->data()),
                               payload->size(), head, nullptr) != 0) {
    return false;
  }
  auto stream = std::make_unique<Stream>();
  stream->id = 1;
  stream->request = std::move(request);
  Stream& s = *stream;
  streams_[1] = std::move(stream);
  requestComplete(s);
  flush();
  return true;
}

void H2Session::flush() {
  if (in_receive_ || dropped_) return;
  std::string out;
  for (;;) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      io_.close();
      return;
    }
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  if (!out.empty()) io_.write(std::move(out));
  if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
    io_.close();  // after a GOAWAY both ways: nothing more will happen here
  }
}

void H2Session::requestComplete(Stream& s) {
  s.request.keep_alive = true;
  s.request.protocol = "HTTP/2";
  if (s.body_too_large) {
    Reply reply;
    reply.response.status = 413;
    reply.response.body =
        R"({"error":{"message":"request body too large","type":"invalid_request_error"}})";
    s.reply = std::move(reply);
  } else {
    s.reply = handler_.handle(s.request, std::chrono::system_clock::now());
  }
  s.request = HttpRequest{};  // decided: a waiting stream keeps only its reply
  switch (s.reply->delivery) {
    case Delivery::kReset:
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
      return;
    case Delivery::kClose:
      io_.close();  // the whole connection, no GOAWAY; drops every stream, `s` included
      return;
    case Delivery::kHang:
      return;  // until the client resets the stream or goes away
    case Delivery::kRespond:
    case Delivery::kSlowDrip:
      if (s.reply->delay.count() > 0) {
        s.timer = new StreamTimer;
        s.timer->session = this;
        s.timer->stream_id = s.id;
        uv_timer_init(loop_, &s.timer->handle);
        uv_timer_start(&s.timer->handle, &Callbacks::onTimer,
                       static_cast<std::uint64_t>(s.reply->delay.count()), 0);
      } else {
        startDelivery(s);
      }
      return;
  }
}

void H2Session::startDelivery(Stream& s) {
  s.delivering = true;
  const Reply& reply = *s.reply;
  s.out = reply.response.body;
  const std::string status = std::to_string(reply.response.status);
  const std::string length = std::to_string(s.out.size());
  const std::string status_name = ":status";
  const std::string type_name = "content-type";
  const std::string length_name = "content-length";
  std::vector<std::pair<std::string, std::string>> extra;
  for (const HttpHeader& h : reply.response.headers) {
    std::string name = lower(h.name);
    if (!connectionSpecific(name)) extra.emplace_back(std::move(name), h.value);
  }
  std::vector<nghttp2_nv> nva{nv(status_name, status), nv(type_name, reply.response.content_type),
                              nv(length_name, length)};
  for (const auto& [name, value] : extra) nva.push_back(nv(name, value));

  if (reply.delivery == Delivery::kSlowDrip) {
    // The headers go at once; the body a chunk per tick over drip_duration.
    const std::size_t chunk = std::max<std::size_t>(1, reply.drip_chunk_bytes);
    const std::size_t chunks = std::max<std::size_t>(1, (s.out.size() + chunk - 1) / chunk);
    const auto total_ms =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, reply.drip_duration.count()));
    const std::uint64_t interval_ms = std::max<std::uint64_t>(1, total_ms / chunks);
    s.released = 0;
    if (s.timer == nullptr) {
      s.timer = new StreamTimer;
      s.timer->session = this;
      s.timer->stream_id = s.id;
      uv_timer_init(loop_, &s.timer->handle);
    }
    uv_timer_start(&s.timer->handle, &Callbacks::onTimer, interval_ms, interval_ms);
  } else {
    s.released = s.out.size();
    stopTimer(s);
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &Callbacks::readBody;
  if (nghttp2_submit_response(session_, s.id, nva.data(), nva.size(), &provider) != 0) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
  }
}

void H2Session::onStreamTimer(std::int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || dropped_) return;
  Stream& s = *it->second;
  if (!s.delivering) {
    startDelivery(s);
  } else {
    s.released += std::max<std::size_t>(1, s.reply->drip_chunk_bytes);
    if (s.released >= s.out.size()) stopTimer(s);
    nghttp2_session_resume_data(session_, s.id);
  }
  flush();  // last: may close the connection and drop every stream
}

void H2Session::closeStream(std::int32_t stream_id, std::uint32_t error_code) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  std::unique_ptr<Stream> s = std::move(it->second);
  streams_.erase(it);
  stopTimer(*s);
  if (s->reply && s->reply->ticket.tracked) {
    handler_.finished(*s->reply, s->all_sent && error_code == NGHTTP2_NO_ERROR);
  }
}

void H2Session::dropAll() {
  if (dropped_) return;
  dropped_ = true;
  for (auto& [id, s] : streams_) {
    stopTimer(*s);
    if (s->reply && s->reply->ticket.tracked) handler_.finished(*s->reply, false);
  }
  streams_.clear();
}

void H2Session::stopTimer(Stream& s) {
  if (s.timer == nullptr) return;
  s.timer->session = nullptr;
  uv_timer_stop(&s.timer->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&s.timer->handle),
           [](uv_handle_t* h) noexcept { delete reinterpret_cast<StreamTimer*>(h); });
  s.timer = nullptr;
}

}  // namespace celeriac::testing::stub
