// Connection: one accepted socket, HTTP/1.1 here or HTTP/2 through H2Session (see
// connection.h for the state picture).

#include "connection.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <string_view>
#include <utility>

#include "listener.h"

namespace celeriac::testing::stub {
namespace {

Connection* fromParser(http_parser* p) { return static_cast<Connection*>(p->data); }

}  // namespace

struct Connection::WriteRequest {
  uv_write_t req{};
  std::string bytes;  // must stay alive until the write callback (uv_write borrows it)
  bool last = false;
  Connection* connection = nullptr;
};

const http_parser_settings Connection::kParserSettings = [] {
  http_parser_settings s{};
  s.on_message_begin = &Connection::onMessageBegin;
  s.on_url = &Connection::onUrl;
  s.on_header_field = &Connection::onHeaderField;
  s.on_header_value = &Connection::onHeaderValue;
  s.on_headers_complete = &Connection::onHeadersComplete;
  s.on_body = &Connection::onBody;
  s.on_message_complete = &Connection::onMessageComplete;
  return s;
}();

Connection::Connection(uv_loop_t* loop, RequestHandler& handler, Listener& owner)
    : handler_(handler), owner_(owner) {
  uv_tcp_init(loop, &tcp_);
  uv_timer_init(loop, &timer_);
  tcp_.data = this;
  timer_.data = this;
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  handler_.connectionOpened();
}

void Connection::start(uv_stream_t* server) {
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (uv_accept(server, stream) != 0) {
    closeWith(false);
    return;
  }
  // Slow drip writes a few bytes at a time on purpose; Nagle would coalesce them.
  uv_tcp_nodelay(&tcp_, 1);
  if (uv_read_start(stream, &Connection::onAlloc, &Connection::onRead) != 0) closeWith(false);
}

void Connection::close() { closeWith(false); }

// ---- http_parser callbacks -------------------------------------------------------------

int Connection::onMessageBegin(http_parser* p) noexcept {
  Connection* c = fromParser(p);
  c->current_ = HttpRequest{};
  c->last_was_value_ = false;
  return 0;
}

int Connection::onUrl(http_parser* p, const char* at, std::size_t len) noexcept {
  fromParser(p)->current_.url.append(at, len);
  return 0;
}

// A header name or value may arrive in several pieces when it straddles two reads, so a
// name piece right after a name piece extends it (http_parser README, "Callbacks").
int Connection::onHeaderField(http_parser* p, const char* at, std::size_t len) noexcept {
  Connection* c = fromParser(p);
  auto& headers = c->current_.headers;
  if (c->last_was_value_ || headers.empty()) headers.push_back(HttpHeader{});
  headers.back().name.append(at, len);
  c->last_was_value_ = false;
  return 0;
}

int Connection::onHeaderValue(http_parser* p, const char* at, std::size_t len) noexcept {
  Connection* c = fromParser(p);
  if (c->current_.headers.empty()) return 0;
  c->current_.headers.back().value.append(at, len);
  c->last_was_value_ = true;
  return 0;
}

int Connection::onHeadersComplete(http_parser* p) noexcept {
  Connection* c = fromParser(p);
  c->current_.method = http_method_str(static_cast<http_method>(p->method));
  for (auto& h : c->current_.headers) {
    std::transform(h.name.begin(), h.name.end(), h.name.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  }
  // libcurl sends "Expect: 100-continue" before larger POST bodies and waits up to a
  // second for this interim answer (CURLOPT_EXPECT_100_TIMEOUT_MS); answer at once.
  if (const std::string* expect = c->current_.header("expect");
      expect != nullptr && (*expect == "100-continue" || *expect == "100-Continue")) {
    c->write("HTTP/1.1 100 Continue\r\n\r\n", false);
  }
  return 0;
}

int Connection::onBody(http_parser* p, const char* at, std::size_t len) noexcept {
  Connection* c = fromParser(p);
  if (c->current_.body.size() + len > kMaxBodyBytes) {
    c->body_too_large_ = true;
    return -1;  // makes http_parser stop with HPE_CB_body
  }
  c->current_.body.append(at, len);
  return 0;
}

int Connection::onMessageComplete(http_parser* p) noexcept {
  Connection* c = fromParser(p);
  c->current_.keep_alive = http_should_keep_alive(p) != 0;
  c->queue_.push_back(std::move(c->current_));
  c->current_ = HttpRequest{};
  return 0;
}

// ---- libuv callbacks -------------------------------------------------------------------

void Connection::onAlloc(uv_handle_t* h, std::size_t /*suggested*/, uv_buf_t* buf) noexcept {
  *buf = static_cast<Connection*>(h->data)->owner_.readBuffer();
}

void Connection::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  Connection* c = static_cast<Connection*>(s->data);
  if (nread == 0 || c->closing_) return;
  if (nread < 0) {
    if (nread != UV_EOF) {
      c->closeWith(false);
      return;
    }
    // The peer finished sending. Answer what is already queued, then close; a hanging
    // request has nobody left to hang for. An HTTP/2 client that closes is gone.
    c->read_eof_ = true;
    if (c->protocol_ != WireProtocol::kHttp1) {
      c->closeWith(false);
      return;
    }
    uv_read_stop(s);
    const bool hanging = c->active_ && c->active_->delivery == Delivery::kHang;
    if (hanging || (!c->active_ && c->queue_.empty())) c->closeWith(false);
    return;
  }
  c->consume(buf->base, static_cast<std::size_t>(nread));
}

void Connection::onWrite(uv_write_t* req, int status) noexcept {
  std::unique_ptr<WriteRequest> w(reinterpret_cast<WriteRequest*>(req));
  Connection* c = w->connection;
  if (status < 0) {
    // UV_ECANCELED arrives for writes still queued when we closed; nothing left to do.
    if (!c->closing_) c->closeWith(false);
    return;
  }
  if (w->last && !c->closing_) c->finishActive();
}

void Connection::onTimer(uv_timer_t* t) noexcept {
  Connection* c = static_cast<Connection*>(t->data);
  if (c->closing_) return;
  if (c->upgrade_) {
    c->finishUpgrade();
    return;
  }
  if (!c->active_) return;
  if (c->out_.empty()) {
    c->startDelivery();
  } else {
    c->dripTick();
  }
}

void Connection::onClose(uv_handle_t* h) noexcept {
  Connection* c = static_cast<Connection*>(h->data);
  if (--c->open_handles_ > 0) return;
  c->handler_.connectionClosed(c->protocol_);
  c->owner_.release(c);  // deletes c: nothing may touch it after this line
}

// ---- request flow ----------------------------------------------------------------------

void Connection::consume(const char* data, std::size_t len) {
  if (upgrade_) {  // the 101 is held: what comes now is read once it went out
    early_bytes_.append(data, len);
    return;
  }
  if (protocol_ == WireProtocol::kHttp1) {
    consumeHttp1(data, len);
    return;
  }
  if (protocol_ == WireProtocol::kHttp2) {
    h2_->receive(data, len);
    return;
  }
  // Not known yet: collect up to the preface's length and compare as bytes arrive.
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::size_t take = std::min(len, kPreface.size() - preface_.size());
  preface_.append(data, take);
  const bool prefix_matches = kPreface.substr(0, preface_.size()) == preface_;
  if (prefix_matches && preface_.size() < kPreface.size()) return;  // wait for more
  std::string first = std::move(preface_);
  preface_ = std::string{};
  first.append(data + take, len - take);
  if (prefix_matches) {
    protocol_ = WireProtocol::kHttp2;
    handler_.connectionSpeaks(protocol_);
    startHttp2();
    h2_->receive(first.data(), first.size());  // the preface too: nghttp2 checks it
  } else {
    protocol_ = WireProtocol::kHttp1;
    handler_.connectionSpeaks(protocol_);
    consumeHttp1(first.data(), first.size());
  }
}

void Connection::consumeHttp1(const char* data, std::size_t len) {
  const std::size_t parsed = http_parser_execute(&parser_, &kParserSettings, data, len);
  const auto err = static_cast<http_errno>(parser_.http_errno);
  if (err == HPE_OK && parser_.upgrade != 0) {
    // http_parser flags the upgrade at the headers but stops only after the whole
    // request (body included, which may take more reads); what follows is the new
    // protocol's (the HTTP/2 client preface).
    const bool complete = !queue_.empty() && queue_.back().header("upgrade") != nullptr;
    if (complete) upgradeToHttp2(data + parsed, len - parsed);
    return;
  }
  if (err != HPE_OK) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    if (body_too_large_) {
      rejectAndClose(413, "request body too large");
    } else {
      rejectAndClose(400, http_errno_description(err));
    }
    return;
  }
  pump();
}

void Connection::pump() {
  while (!closing_ && !active_ && !queue_.empty()) {
    HttpRequest request = std::move(queue_.front());
    queue_.pop_front();
    active_keep_alive_ = request.keep_alive;
    active_ = handler_.handle(request, std::chrono::system_clock::now());
    switch (active_->delivery) {
      case Delivery::kReset:
        closeWith(true);  // reports the reply as dropped
        return;
      case Delivery::kClose:
        closeWith(false);  // FIN; reports the reply as dropped
        return;
      case Delivery::kHang:
        return;  // stays active until the peer closes
      case Delivery::kRespond:
      case Delivery::kSlowDrip:
        if (active_->delay.count() > 0) {
          uv_timer_start(&timer_, &Connection::onTimer,
                         static_cast<std::uint64_t>(active_->delay.count()), 0);
        } else {
          startDelivery();
        }
        return;
    }
  }
}

void Connection::startDelivery() {
  const bool keep_alive = active_keep_alive_ && !active_->close_after;
  std::string bytes = active_->response.serialize(keep_alive);
  if (active_->delivery != Delivery::kSlowDrip) {
    write(std::move(bytes), true);
    return;
  }
  out_ = std::move(bytes);
  drip_offset_ = 0;
  const std::size_t chunk = std::max<std::size_t>(1, active_->drip_chunk_bytes);
  const std::size_t chunks = (out_.size() + chunk - 1) / chunk;
  const auto total_ms =
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, active_->drip_duration.count()));
  const std::uint64_t interval_ms =
      std::max<std::uint64_t>(1, total_ms / std::max<std::size_t>(1, chunks));
  uv_timer_start(&timer_, &Connection::onTimer, 0, interval_ms);
}

void Connection::dripTick() {
  const std::size_t chunk = std::max<std::size_t>(1, active_->drip_chunk_bytes);
  const std::size_t n = std::min(chunk, out_.size() - drip_offset_);
  std::string piece = out_.substr(drip_offset_, n);
  drip_offset_ += n;
  const bool last = drip_offset_ >= out_.size();
  if (last) uv_timer_stop(&timer_);
  write(std::move(piece), last);
}

void Connection::write(std::string bytes, bool last) {
  auto w = std::make_unique<WriteRequest>();
  w->bytes = std::move(bytes);
  w->last = last;
  w->connection = this;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned int>(w->bytes.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, &Connection::onWrite) !=
      0) {
    closeWith(false);
    return;
  }
  w.release();  // owned by libuv until onWrite
}

void Connection::finishActive() {
  Reply done = std::move(*active_);
  active_.reset();
  out_.clear();
  drip_offset_ = 0;
  if (done.ticket.tracked) handler_.finished(done, true);
  const bool keep_alive = active_keep_alive_ && !done.close_after;
  if (!keep_alive || (read_eof_ && queue_.empty())) {
    closeWith(false);
  } else {
    pump();
  }
}

void Connection::rejectAndClose(int status, std::string_view message) {
  queue_.clear();
  if (active_) {  // a pipelined request is still being answered; just drop everything
    closeWith(false);
    return;
  }
  Reply reply;
  reply.response.status = status;
  reply.response.body = std::string(R"({"error":{"message":")") + std::string(message) +
                        R"(","type":"invalid_request_error"}})";
  reply.close_after = true;
  active_ = std::move(reply);
  startDelivery();
}

void Connection::closeWith(bool reset) {
  if (closing_) return;
  closing_ = true;
  if (h2_) h2_->dropAll();
  if (active_) {
    Reply dropped = std::move(*active_);
    active_.reset();
    if (dropped.ticket.tracked) handler_.finished(dropped, false);
  }
  queue_.clear();
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Connection::onClose);
  auto* handle = reinterpret_cast<uv_handle_t*>(&tcp_);
  // uv_tcp_close_reset sets SO_LINGER to 0 and closes, so the peer sees ECONNRESET.
  if (!reset || uv_tcp_close_reset(&tcp_, &Connection::onClose) != 0) {
    uv_close(handle, &Connection::onClose);
  }
}

}  // namespace celeriac::testing::stub
