// H2Connection's socket side: resolving, connecting (each address in turn, within the
// connect timeout), the TLS handshake on https://, writing what nghttp2 has to send
// (sealed by TLS there), and failing the connection. The frames side (session, streams,
// reading) is in h2_connection.cc.
#include "worker/http/h2_connection.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

namespace celeriac::worker::http {

using balancer::TransportError;

namespace {

struct Resolve {
  uv_getaddrinfo_t req{};
  common::LifetimeWatch life;
  H2Connection* connection = nullptr;
};

struct Connect {
  uv_connect_t req{};
  // libuv calls back a cancelled connect (UV_ECANCELED) from closing its socket, which
  // may be the connection's destructor: check before touching it.
  common::LifetimeWatch life;
  H2Connection* connection = nullptr;
};

struct Write {
  uv_write_t req{};
  std::string bytes;
  // A write that failed before the socket closed keeps its own error, and libuv calls
  // it back from the close, when the connection may be gone: check before touching it.
  common::LifetimeWatch life;
  H2Connection* connection = nullptr;
};

}  // namespace

void H2Connection::start(std::chrono::milliseconds connect_timeout) {
  state_ = State::kConnecting;
  connect_timeout_ = std::max(connect_timeout, std::chrono::milliseconds(1));
  connect_timer_ = uv::makeHandle<uv_timer_t>(loop_, this);
  uv_timer_start(
      connect_timer_.get(),
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<H2Connection*>(t->data);
        self->fail(TransportError::kTimeout,
                   "connect to " + self->target_.authority + " timed out after " +
                       std::to_string(self->connect_timeout_.count()) + " ms");
      },
      static_cast<std::uint64_t>(connect_timeout_.count()), 0);
  auto resolve = std::make_unique<Resolve>();
  resolve->life = lifetime_.watch();
  resolve->connection = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = uv_getaddrinfo(
      loop_, &resolve->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) noexcept {
        std::unique_ptr<Resolve> r(reinterpret_cast<Resolve*>(req));
        if (r->life.alive()) {
          r->connection->resolving_ = nullptr;
          r->connection->onResolved(status, res);
        } else if (res != nullptr) {
          uv_freeaddrinfo(res);
        }
      },
      target_.host.c_str(), target_.port.c_str(), &hints);
  if (rc == 0) {
    resolving_ = &resolve->req;
    resolve.release();  // libuv holds it until the callback takes it back
  } else {
    failSoon(TransportError::kConnectFailed,
             "cannot resolve " + target_.host + ": " + uv_strerror(rc));
  }
}

void H2Connection::onResolved(int status, addrinfo* addresses) {
  if (state_ != State::kConnecting) {
    if (addresses != nullptr) uv_freeaddrinfo(addresses);
    return;
  }
  if (status != 0) {
    fail(TransportError::kConnectFailed,
         "cannot resolve " + target_.host + ": " + uv_strerror(status));
    return;
  }
  addresses_ = addresses;
  next_address_ = addresses;
  connectNext();
}

void H2Connection::connectNext() {
  while (next_address_ != nullptr) {
    const addrinfo* address = next_address_;
    next_address_ = next_address_->ai_next;
    socket_.reset();
    auto socket = uv::tryMakeHandle<uv_tcp_t>(loop_, this);
    if (!socket) {
      fail(TransportError::kConnectFailed,
           "connect to " + target_.authority + " failed: " + socket.error().message);
      return;
    }
    socket_ = std::move(socket).value();
    uv_tcp_nodelay(socket_.get(), 1);
    uv_tcp_keepalive(socket_.get(), 1, 60);
    auto connect = std::make_unique<Connect>();
    connect->life = lifetime_.watch();
    connect->connection = this;
    const int rc = uv_tcp_connect(&connect->req, socket_.get(), address->ai_addr,
                                  [](uv_connect_t* req, int status) noexcept {
                                    std::unique_ptr<Connect> c(reinterpret_cast<Connect*>(req));
                                    // Cancelled: this socket was closed (another address
                                    // tried, the connection failed or went away).
                                    if (status != UV_ECANCELED && c->life.alive()) {
                                      c->connection->onConnected(status);
                                    }
                                  });
    if (rc == 0) {
      connect.release();  // libuv holds it until the callback takes it back
      return;
    }
    last_connect_error_ = rc;
  }
  fail(TransportError::kConnectFailed,
       "connect to " + target_.authority + " failed: " + uv_strerror(last_connect_error_));
}

void H2Connection::onConnected(int status) {
  if (status != 0) {
    last_connect_error_ = status;
    connectNext();
    return;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(socket_.get()),
      [](uv_handle_t* h, std::size_t /*suggested*/, uv_buf_t* buf) noexcept {
        auto* self = static_cast<H2Connection*>(h->data);
        *buf = uv_buf_init(self->read_buffer_.data(),
                           static_cast<unsigned int>(self->read_buffer_.size()));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* /*buf*/) noexcept {
        static_cast<H2Connection*>(s->data)->onRead(nread);
      });
  if (tls_context_ == nullptr) {
    becomeOpen();
    return;
  }
  auto stream = TlsStream::create(*tls_context_, target_.host);
  if (!stream) {
    fail(TransportError::kConnectFailed, stream.error().message);
    return;
  }
  tls_ = std::move(stream).value();
  state_ = State::kHandshaking;  // the connect timeout covers the handshake too
  handshakeStep();
}

void H2Connection::handshakeStep() {
  const TlsStream::Handshake step = tls_->handshake();
  writeRaw(tls_->outgoing());
  if (step == TlsStream::Handshake::kDone) {
    becomeOpen();
  } else if (step == TlsStream::Handshake::kFailed) {
    fail(TransportError::kConnectFailed,
         "TLS handshake with " + target_.authority + " failed: " + tls_->failure());
  }
}

void H2Connection::becomeOpen() {
  connect_timer_.reset();
  state_ = State::kOpen;
  flush();  // the client preface and our SETTINGS
  if (state_ == State::kOpen) owner_.onConnectionReady(*this);
}

void H2Connection::flush() {
  if (state_ != State::kOpen) return;
  std::string out;
  for (;;) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      failSoon(TransportError::kConnectionReset,
               std::string("HTTP/2 session error: ") + nghttp2_strerror(static_cast<int>(n)));
      return;
    }
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  if (tls_ != nullptr) {
    // Also carries TLS's own records (a key update answered while reading).
    if (auto sealed = tls_->encrypt(out); !sealed) {
      failSoon(TransportError::kConnectionReset, sealed.error().message);
      return;
    }
    out = tls_->outgoing();
  }
  writeRaw(std::move(out));
}

void H2Connection::writeRaw(std::string bytes) {
  if (bytes.empty()) return;
  auto write = std::make_unique<Write>();
  write->bytes = std::move(bytes);
  write->life = lifetime_.watch();
  write->connection = this;
  uv_buf_t buf = uv_buf_init(write->bytes.data(), static_cast<unsigned int>(write->bytes.size()));
  const int rc =
      uv_write(&write->req, reinterpret_cast<uv_stream_t*>(socket_.get()), &buf, 1,
               [](uv_write_t* req, int status) noexcept {
                 std::unique_ptr<Write> w(reinterpret_cast<Write*>(req));
                 if (status < 0 && status != UV_ECANCELED && w->life.alive()) {
                   w->connection->fail(TransportError::kConnectionReset,
                                       std::string("write failed: ") + uv_strerror(status));
                 }
               });
  if (rc == 0) {
    write.release();  // libuv holds it until the callback takes it back
  } else {
    failSoon(TransportError::kConnectionReset, std::string("write failed: ") + uv_strerror(rc));
  }
}

void H2Connection::failSoon(TransportError error, std::string detail) {
  if (state_ == State::kGone || pending_failure_) return;
  pending_failure_ = true;
  accepting_ = false;  // broken already: no call goes on it in the meantime
  pending_error_ = error;
  pending_detail_ = std::move(detail);
  if (fail_timer_ == nullptr) fail_timer_ = uv::makeHandle<uv_timer_t>(loop_, this);
  uv_timer_start(
      fail_timer_.get(),
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<H2Connection*>(t->data);
        self->fail(self->pending_error_, self->pending_detail_);
      },
      0, 0);
}

void H2Connection::fail(TransportError error, const std::string& detail) {
  if (state_ == State::kGone) return;
  const bool connected = state_ == State::kOpen;  // a failed handshake never connected
  state_ = State::kGone;
  accepting_ = false;
  connect_timer_.reset();
  fail_timer_.reset();
  if (socket_ != nullptr) uv_read_stop(reinterpret_cast<uv_stream_t*>(socket_.get()));
  socket_.reset();
  std::unordered_map<std::int32_t, H2Call*> calls;
  calls.swap(streams_);
  for (auto& [id, call] : calls) {
    call->connection = nullptr;
    call->stream_id = 0;
    call->response.error = error;
    call->response.error_detail = detail;
    owner_.onStreamEnded(*call, H2StreamEnd::kFailed);
  }
  owner_.onConnectionGone(*this, connected, error, detail);
}

}  // namespace celeriac::worker::http
