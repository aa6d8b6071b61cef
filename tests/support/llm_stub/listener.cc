// Listener: accept loop and owner of connections (see listener.h).

#include "listener.h"

#include <spdlog/spdlog.h>

#include "connection.h"

namespace celeriac::testing::stub {

Listener::Listener(uv_loop_t* loop, RequestHandler& handler) : loop_(loop), handler_(handler) {}

Listener::~Listener() = default;

int Listener::listen(const std::string& host, int port, int backlog) {
  sockaddr_storage addr{};
  int rc = host.find(':') != std::string::npos
               ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr))
               : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) return rc;
  if ((rc = uv_tcp_init(loop_, &server_)) != 0) return rc;
  server_.data = this;
  server_open_ = true;
  if ((rc = uv_tcp_bind(&server_, reinterpret_cast<const sockaddr*>(&addr), 0)) != 0) return rc;
  return uv_listen(reinterpret_cast<uv_stream_t*>(&server_), backlog, &Listener::onConnection);
}

int Listener::port() const {
  sockaddr_storage addr{};
  int len = sizeof(addr);
  if (uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
}

void Listener::close() {
  if (closed_) return;
  closed_ = true;
  if (server_open_) uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  // close() only starts closing; entries leave the map from their close callbacks.
  for (auto& [raw, connection] : connections_) connection->close();
}

void Listener::release(Connection* connection) { connections_.erase(connection); }

uv_buf_t Listener::readBuffer() {
  return uv_buf_init(read_buffer_.data(), static_cast<unsigned int>(read_buffer_.size()));
}

void Listener::onConnection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<Listener*>(server->data);
  if (status < 0) {
    // EMFILE and friends: the client stays in the backlog; log rarely, keep serving.
    SPDLOG_LOGGER_WARN(spdlog::default_logger(), "accept failed error={}", uv_strerror(status));
    return;
  }
  if (self->closed_) return;
  auto connection = std::make_unique<Connection>(self->loop_, self->handler_, *self);
  Connection* raw = connection.get();
  self->connections_.emplace(raw, std::move(connection));
  raw->start(server);
}

}  // namespace celeriac::testing::stub
