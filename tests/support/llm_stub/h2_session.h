#pragma once
// H2Session: HTTP/2 (h2c, prior knowledge) on one accepted connection of the stub, with
// nghttp2's server API (libnghttp2, Debian's libnghttp2-dev).
//
// For: turning HTTP/2 frames into the same HttpRequest values HTTP/1.1 produces, handing
// each complete stream to the same RequestHandler (Router: routes, fault plans, rate
// limits, stats), and delivering each Reply on its own stream: after its delay (one uv
// timer per waiting stream), slow drip as DATA released a chunk at a time, hang as a
// stream never answered, reset as RST_STREAM (the stream's equivalent of a TCP reset:
// the other streams of the connection go on). Many streams wait at once on one
// connection, which is what a multiplexing client needs to be tested against.
// Not for: sockets or protocol detection (Connection reads the client preface and
// feeds bytes here; this writes through it).
//
// Ownership: the Connection owns its H2Session. The session owns its nghttp2 session,
// its streams and their timers; a timer's memory is freed in its close callback
// (libuv docs/src/handle.rst) and never calls back into a closed session.

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http_message.h"
#include "reply.h"
#include "request_handler.h"

namespace celeriac::testing::stub {

class H2Session {
 public:
  // How the session reaches its connection: write bytes (in order), and close it.
  struct Io {
    std::function<void(std::string bytes)> write;
    std::function<void()> close;
  };

  H2Session(uv_loop_t* loop, RequestHandler& handler, Io io, std::size_t max_body_bytes);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // After an HTTP/1.1 request with "Upgrade: h2c" was answered with 101: that request
  // becomes stream 1 (RFC 7540 section 3.2), `settings` is its HTTP2-Settings header
  // (base64url). False if the header does not decode; the caller closes then.
  bool upgrade(HttpRequest request, const std::string& settings);

  // Feeds bytes read from the socket (the client preface included). Protocol errors end
  // the connection through Io::close (after a GOAWAY where nghttp2 sends one).
  void receive(const char* data, std::size_t len);

  // The base64url (RFC 4648 section 5, unpadded) decoding of `text`; nullopt if invalid.
  static std::optional<std::string> base64Url(std::string_view text);

  // The connection is going away: every reply not yet delivered is reported to the
  // handler as dropped, and every timer stops. No Io call afterwards.
  void dropAll();

  // Streams opened at most at once on one connection, as SETTINGS tells the client.
  static constexpr std::uint32_t kMaxConcurrentStreams = 100000;

 private:
  struct Stream;
  struct Callbacks;  // nghttp2's C callbacks (defined in the .cc)
  friend struct Callbacks;

  void flush();
  void requestComplete(Stream& s);
  void startDelivery(Stream& s);
  void onStreamTimer(std::int32_t stream_id);
  void closeStream(std::int32_t stream_id, std::uint32_t error_code);
  static void stopTimer(Stream& s);

  uv_loop_t* loop_;
  RequestHandler& handler_;
  Io io_;
  std::size_t max_body_bytes_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::unique_ptr<Stream>> streams_;
  bool dropped_ = false;
  bool in_receive_ = false;  // flush once at the end of receive(), not per callback
};

}  // namespace celeriac::testing::stub
