#pragma once
// H2Connection: one HTTP/2 client connection on the libuv loop, with nghttp2's client API
// (libnghttp2, Debian's libnghttp2-dev): over TLS agreed by ALPN for https://
// (TlsStream), with prior knowledge (h2c) for http://.
//
// For: resolving and connecting (each address in turn, within a connect timeout; the TLS
// handshake inside the same timeout), writing the client preface, putting calls on streams (HEADERS
// and DATA from the call's request, which is freed as soon as nghttp2 has copied it), collecting
// each stream's reply into its call, and telling the owner when a stream closes, when the
// connection can take calls, and when it is gone. Many calls share one connection, and a
// waiting call costs a stream here, not a buffer: the read buffer is the connection's.
// Not for: choosing a connection, queueing calls, call deadlines, ids or callbacks
// (H2Transport), certificates and records (TlsStream).
//
// Loop and threading: every method and callback runs on the loop thread.
//
// Code: the frames side (session, streams, reading) in h2_connection.cc, the socket
// side (resolve, connect, write, fail) in h2_connection_socket.cc.
//
// Ownership: the transport owns its connections. A connection owns its socket handle
// (freed in its close callback, worker/uv/uv_handle.h), its nghttp2 session and its
// timers, and borrows the calls on its streams. Owner calls come from libuv callbacks,
// and onStreamEnded also from inside submit()/detach() (their flush may close another
// stream, e.g. one refused after a GOAWAY); onConnectionGone never comes from a method
// the owner called. The owner must neither destroy the connection nor call into it
// from inside these calls (it defers that to a later loop turn).

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "balancer/http_transport.h"
#include "common/lifetime_token.h"
#include "worker/http/h2_call.h"
#include "worker/http/tls_stream.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::http {

// Where a connection goes: http://host:port, and the :authority its requests carry.
struct H2Target {
  std::string host;  // name or IP address (no brackets): resolved, and checked by TLS
  std::string port;
  std::string authority;  // host[:port] as in the URL
  bool tls = false;       // https://
};

// How a stream ended, for its call.
enum class H2StreamEnd {
  kReplied,      // a complete reply (any status) is in call.response
  kRefused,      // the server did not process it (REFUSED_STREAM, or past a GOAWAY's last
                 // stream): it could go on another connection (RFC 9113 section 8.7), but
                 // its request was freed once written, so the balancer's retry sends it
  kFailed,       // reset, connection lost, protocol error: call.response.error says which
  kBodyTooLarge  // the reply body passed the call's max_body_bytes
};

class H2Connection {
 public:
  class Owner {
   public:
    // Connected: the connection takes calls now (up to freeStreams()).
    virtual void onConnectionReady(H2Connection& connection) = 0;
    // A stream closed; the call is no longer on this connection.
    virtual void onStreamEnded(H2Call& call, H2StreamEnd end) = 0;
    // A stream freed, or the server raised its stream limit: more calls fit.
    virtual void onStreamsFreed(H2Connection& connection) = 0;
    // The connection is gone (never connected: `connected` false), every call that was
    // on it has had onStreamEnded first. The owner may destroy it on a later loop turn.
    virtual void onConnectionGone(H2Connection& connection, bool connected,
                                  balancer::TransportError error, const std::string& detail) = 0;

   protected:
    ~Owner() = default;
  };

  // `max_streams`: concurrent streams this client opens at most (the server's own
  // SETTINGS_MAX_CONCURRENT_STREAMS may lower it). `tls`: required when target.tls.
  H2Connection(uv_loop_t* loop, Owner& owner, H2Target target, std::size_t max_streams,
               std::string user_agent, std::shared_ptr<TlsContext> tls);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Resolves and connects; reports onConnectionReady or onConnectionGone.
  void start(std::chrono::milliseconds connect_timeout);

  // Calls it can take now: 0 while connecting, after a GOAWAY, or at its stream limit.
  [[nodiscard]] std::size_t freeStreams() const;
  [[nodiscard]] bool connecting() const {
    return state_ == State::kConnecting || state_ == State::kHandshaking;
  }
  [[nodiscard]] bool open() const { return state_ == State::kOpen; }
  // False once it takes no more calls (going away, retired, failing): it then does not
  // count against its pool's max_connections.
  [[nodiscard]] bool accepting() const { return accepting_ && state_ != State::kGone; }
  [[nodiscard]] std::size_t activeStreams() const { return streams_.size(); }
  [[nodiscard]] std::size_t maxStreams() const { return max_streams_; }

  // Puts `call` on a new stream and writes it. False (the call untouched) if the session
  // will open no new stream (ids used up, going away): the connection takes no more
  // calls and is retired once its last stream ends.
  bool submit(H2Call& call);
  // Takes `call` off its stream (RST_STREAM CANCEL): its end is not reported.
  void detach(H2Call& call);
  // Takes no more calls; closes once its last stream has ended. For a connection that
  // may be dead without knowing it (a call on it ran out of time): new calls go to a
  // fresh connection instead of waiting on it until TCP gives up.
  void retire();

 private:
  enum class State { kIdle, kConnecting, kHandshaking, kOpen, kGone };
  struct Fns;  // the noexcept C trampolines (defined in the .cc)
  friend struct Fns;

  void onResolved(int status, addrinfo* addresses);
  void connectNext();
  void onConnected(int status);
  void handshakeStep();
  void becomeOpen();
  void onRead(ssize_t nread);
  void onStreamClose(std::int32_t stream_id, std::uint32_t error_code);
  void flush();
  void writeRaw(std::string bytes);
  void retireIfDrained();
  void fail(balancer::TransportError error, const std::string& detail);
  // fail() from a libuv callback, for errors found inside a method the owner called.
  void failSoon(balancer::TransportError error, std::string detail);

  uv_loop_t* loop_;
  Owner& owner_;
  H2Target target_;
  std::size_t max_streams_;
  std::string user_agent_;
  std::shared_ptr<TlsContext> tls_context_;
  std::unique_ptr<TlsStream> tls_;  // https:// only, from the TCP connect on
  std::string plain_;               // what TLS decrypted from one read
  State state_ = State::kIdle;
  bool accepting_ = true;  // false after a GOAWAY or once stream ids run out
  nghttp2_session* session_ = nullptr;
  uv::HandlePtr<uv_tcp_t> socket_;
  uv::HandlePtr<uv_timer_t> connect_timer_;
  uv::HandlePtr<uv_timer_t> fail_timer_;  // failSoon()
  bool pending_failure_ = false;
  balancer::TransportError pending_error_ = balancer::TransportError::kNone;
  std::string pending_detail_;
  std::chrono::milliseconds connect_timeout_{0};
  uv_getaddrinfo_t* resolving_ = nullptr;  // while the resolver runs: cancelled if we go first
  addrinfo* addresses_ = nullptr;          // from uv_getaddrinfo, freed with uv_freeaddrinfo
  addrinfo* next_address_ = nullptr;
  int last_connect_error_ = 0;  // libuv's code, for the message once every address failed
  std::unordered_map<std::int32_t, H2Call*> streams_;
  std::array<char, 16 * 1024> read_buffer_{};
  // For the lookup, connect and write requests, whose callbacks may come after we are gone.
  common::LifetimeToken lifetime_;
};

}  // namespace celeriac::worker::http
