#pragma once
// Connection: one accepted TCP client of the stub, on the stub's single libuv loop.
//
// For: telling the protocol from the first bytes (the HTTP/2 client preface
// "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" means h2c with prior knowledge, handed to an
// H2Session; anything else is HTTP/1.1, which may upgrade to HTTP/2 by "Upgrade: h2c",
// RFC 7540 section 3.2), reading HTTP/1.1 bytes into Node's http_parser,
// handing each complete request to the RequestHandler, and delivering the Reply it
// returns (after a uv timer for latency, a byte at a time for slow drip, never for hang,
// or by RST for reset). HTTP/1.1 keep-alive and pipelining: requests are answered
// strictly one after another. Not for: deciding anything about a request (Router does)
// or HTTP/2 framing (H2Session).
//
// Ownership: the Listener owns every Connection. A Connection embeds two uv handles (the
// socket and one timer); it asks the Listener to delete it only from the close callback
// of the last of them, as libuv requires (docs/src/handle.rst: memory is released in the
// close callback).
//
//   reading ──request──▶ [queued] ──handle()──▶ waiting(delay) ──▶ writing ──▶ reading
//      │                                  └──▶ hang (until peer closes)
//      └── EOF / error / reset ──▶ closing ──(both handles closed)──▶ released
//
// "Upgrade: h2c" (connection_h2c.cc): the request is held, the 101 goes out after the
// handler's upgradeDelay() (the one timer), then the request is stream 1 of an H2Session
// and every byte read meanwhile is fed to it, so a client that wrote anything but the
// HTTP/2 preface behind its upgrade request fails the connection.

#include <http_parser.h>
#include <uv.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "h2_session.h"
#include "http_message.h"
#include "reply.h"
#include "request_handler.h"

namespace celeriac::testing::stub {

class Listener;

class Connection {
 public:
  Connection(uv_loop_t* loop, RequestHandler& handler, Listener& owner);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() = default;

  // Accepts the pending client on |server| and starts reading. On failure the
  // connection closes itself (and is released later, never inside this call).
  void start(uv_stream_t* server);

  // Closes now. A reply not yet delivered is reported to the handler as dropped.
  void close();

  // Bodies above this are refused with 413 (base64 images are large, but not this large).
  static constexpr std::size_t kMaxBodyBytes = 64u * 1024u * 1024u;

 private:
  struct WriteRequest;

  // http_parser callbacks (C, so static trampolines that never throw).
  static int onMessageBegin(http_parser* p) noexcept;
  static int onUrl(http_parser* p, const char* at, std::size_t len) noexcept;
  static int onHeaderField(http_parser* p, const char* at, std::size_t len) noexcept;
  static int onHeaderValue(http_parser* p, const char* at, std::size_t len) noexcept;
  static int onHeadersComplete(http_parser* p) noexcept;
  static int onBody(http_parser* p, const char* at, std::size_t len) noexcept;
  static int onMessageComplete(http_parser* p) noexcept;
  static const http_parser_settings kParserSettings;

  // libuv callbacks.
  static void onAlloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) noexcept;
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void onWrite(uv_write_t* req, int status) noexcept;
  static void onTimer(uv_timer_t* t) noexcept;
  static void onClose(uv_handle_t* h) noexcept;

  void consume(const char* data, std::size_t len);
  void consumeHttp1(const char* data, std::size_t len);
  // connection_h2c.cc
  void upgradeToHttp2(const char* rest, std::size_t rest_len);
  void finishUpgrade();  // writes the 101 (after the handler's upgradeDelay())
  void startHttp2();
  void pump();  // start the next queued request when idle
  void startDelivery();
  void dripTick();
  void write(std::string bytes, bool last);
  void finishActive();
  void closeWith(bool reset);
  void rejectAndClose(int status, std::string_view message);

  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  RequestHandler& handler_;
  Listener& owner_;

  http_parser parser_{};
  HttpRequest current_;
  bool last_was_value_ = false;
  bool body_too_large_ = false;
  std::deque<HttpRequest> queue_;

  std::optional<Reply> active_;
  bool active_keep_alive_ = true;
  std::string out_;  // serialized reply during slow drip
  std::size_t drip_offset_ = 0;

  WireProtocol protocol_ = WireProtocol::kUnknown;
  std::string preface_;  // the first bytes, until they tell the protocol
  std::unique_ptr<H2Session> h2_;
  std::optional<HttpRequest> upgrade_;  // accepted "Upgrade: h2c" request, 101 held
  std::string early_bytes_;             // read while the 101 is held

  bool read_eof_ = false;
  bool closing_ = false;
  int open_handles_ = 2;
};

}  // namespace celeriac::testing::stub
