#pragma once
// HttpServer: the worker's one HTTP port (--http-port), serving /metrics, /healthz and
// /readyz through civetweb (Debian's libcivetweb, never a parser of our own).
//
// Threads: civetweb runs its own listener and worker threads. The route functions are
// called on THOSE threads, concurrently, so they may read only thread-safe state
// (std::atomic flags, prometheus-cpp's registry); they must never touch a libuv handle
// or any other loop object. The loop never waits for this server, and a slow scraper
// never holds the loop.
//
// Ownership: start() binds and returns the running server; destroying it stops
// civetweb and joins its threads (mg_stop), after which no route runs again, so the
// state the routes read must outlive the server.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "worker/metrics/health_state.h"

struct mg_context;
struct mg_connection;

namespace celeriac::worker::metrics {

class HttpServer {
 public:
  struct Routes {
    std::function<std::string()> metrics;  // the text exposition (format 0.0.4)
    std::function<ProbeAnswer()> healthz;
    std::function<ProbeAnswer()> readyz;
  };

  // Binds `bind`:`port` (port 0: any free port, see port()) and starts serving. An
  // Error when the address cannot be bound (in use, not local, bad address).
  static common::Result<std::unique_ptr<HttpServer>> start(const std::string& bind,
                                                           std::uint16_t port, Routes routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually bound.
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  explicit HttpServer(Routes routes) : routes_(std::move(routes)) {}
  static int onMetrics(mg_connection* conn, void* self) noexcept;
  static int onHealthz(mg_connection* conn, void* self) noexcept;
  static int onReadyz(mg_connection* conn, void* self) noexcept;

  Routes routes_;
  mg_context* ctx_ = nullptr;
  std::uint16_t port_ = 0;
};

}  // namespace celeriac::worker::metrics
