#pragma once
// H2Call: one request through H2Transport, from send() to its single on_done: what it
// sends (until it has been written), where it is (waiting for a stream, or on stream N of
// one connection), and the reply it accumulates.
//
// For: the per-call state the lean HTTP/2 client keeps, and nothing else, because a
// worker holds thousands of these while an LLM thinks: after the request is on the wire
// only the ids, the callback, the deadline and the (empty) reply are left; the body and
// headers are released as soon as nghttp2 has copied them into frames. Not for: sockets
// or frames (H2Connection), queues, timers and ids (H2Transport).
//
// Ownership: H2Transport owns every H2Call (by id). A connection only borrows it, as the
// user data of the call's stream, until the stream closes or the call is detached.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "balancer/http_transport.h"

namespace celeriac::worker::http {

class H2Connection;
struct H2Pool;

struct H2Call {
  balancer::HttpRequestId id = 0;
  H2Pool* pool = nullptr;
  std::function<void(balancer::HttpResponse)> on_done;

  // What goes on the wire; emptied (and its memory freed) once nghttp2 has taken it.
  std::string method;
  std::string path;  // path and query, as :path
  std::vector<balancer::HttpHeader> headers;
  std::string body;
  std::size_t body_sent = 0;

  // Where it is: on a stream of `connection`, or (connection == nullptr) waiting in its
  // pool's queue for a connection with a free stream.
  H2Connection* connection = nullptr;
  std::int32_t stream_id = 0;

  std::uint64_t started_ns = 0;   // uv_hrtime() at send()
  std::uint64_t deadline_ns = 0;  // started_ns + total_timeout
  std::chrono::milliseconds connect_timeout{0};

  balancer::HttpResponse response;
  std::size_t max_body_bytes = 0;
  bool body_too_large = false;

  // Frees the request once nghttp2 has copied all of it into frames: a waiting call
  // then holds no copy of its prompt.
  void releaseRequest() {
    std::string().swap(body);
    std::vector<balancer::HttpHeader>().swap(headers);
    std::string().swap(path);
    std::string().swap(method);
  }
};

}  // namespace celeriac::worker::http
