#pragma once
// Listener: the stub's accept loop on one libuv TCP handle.
//
// For: binding host:port (port 0 picks a free one), accepting clients, owning every
// Connection, and closing them all on shutdown. Not for: HTTP (Connection) or policy
// (the RequestHandler it passes to each connection).
//
// Lives on the loop thread. The Listener must outlive the loop run: its server handle
// and every connection are closed by close(), and the loop then runs dry.

#include <uv.h>

#include <array>
#include <memory>
#include <string>
#include <unordered_map>

#include "request_handler.h"

namespace celeriac::testing::stub {

class Connection;

class Listener {
 public:
  Listener(uv_loop_t* loop, RequestHandler& handler);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  // Binds and listens. Returns 0 or a libuv error code (uv_strerror() explains it).
  int listen(const std::string& host, int port, int backlog);
  // The bound port (useful after listen(port = 0)).
  [[nodiscard]] int port() const;
  // Stops accepting and closes every connection; idempotent.
  void close();

  // Connection's end of life: called from its last close callback; deletes it.
  void release(Connection* connection);
  // One read buffer shared by all connections: libuv calls alloc and read back to back
  // and the parser copies what it keeps, so nothing outlives the read callback.
  uv_buf_t readBuffer();

 private:
  static void onConnection(uv_stream_t* server, int status) noexcept;

  uv_loop_t* loop_;
  RequestHandler& handler_;
  uv_tcp_t server_{};
  bool server_open_ = false;
  bool closed_ = false;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::array<char, 64 * 1024> read_buffer_{};
};

}  // namespace celeriac::testing::stub
