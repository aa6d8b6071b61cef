#include "worker/metrics/http_server.h"

#include <civetweb.h>

#include <array>
#include <mutex>
#include <string_view>

namespace celeriac::worker::metrics {

namespace {

// civetweb's process-wide set-up; its docs ask for it once before the first mg_start.
void initLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

int reply(mg_connection* conn, int status, std::string_view content_type,
          std::string_view body) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", content_type.data(),
                         static_cast<int>(content_type.size()));
  const std::string length = std::to_string(body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_send(conn);
  if (!body.empty()) mg_write(conn, body.data(), body.size());
  return status;  // non-zero: handled
}

int probe(mg_connection* conn, const std::function<ProbeAnswer()>& route) noexcept {
  try {
    const ProbeAnswer a = route();
    return reply(conn, a.status, "text/plain; charset=utf-8", a.body + "\n");
  } catch (...) {
    return reply(conn, 500, "text/plain; charset=utf-8", "internal error\n");
  }
}

}  // namespace

common::Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& bind,
                                                              std::uint16_t port, Routes routes) {
  initLibraryOnce();
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(routes)));
  // An IPv6 literal needs brackets in civetweb's listening_ports ("[::]:9808").
  const std::string listen = (bind.find(':') != std::string::npos ? "[" + bind + "]" : bind) +
                             ":" + std::to_string(port);
  const char* options[] = {"listening_ports", listen.c_str(),
                           // Scrapes and probes are tiny; two threads answer them.
                           "num_threads", "2",
                           // A client that stops sending is dropped, not waited for.
                           "request_timeout_ms", "10000",
                           nullptr};
  mg_callbacks callbacks{};
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = options;
  std::array<char, 256> text{};
  unsigned code = 0;
  mg_error_data err{};
  err.code = &code;
  err.text = text.data();
  err.text_buffer_size = text.size();
  server->ctx_ = mg_start2(&init, &err);
  if (server->ctx_ == nullptr) {
    return common::Error{"cannot serve HTTP on " + listen + ": " +
                         (text[0] != '\0' ? std::string(text.data()) : "mg_start failed")};
  }
  mg_set_request_handler(server->ctx_, "/metrics$", &HttpServer::onMetrics, server.get());
  mg_set_request_handler(server->ctx_, "/healthz$", &HttpServer::onHealthz, server.get());
  mg_set_request_handler(server->ctx_, "/readyz$", &HttpServer::onReadyz, server.get());
  std::array<mg_server_port, 4> ports{};
  const int n = mg_get_server_ports(server->ctx_, static_cast<int>(ports.size()), ports.data());
  server->port_ = n > 0 ? static_cast<std::uint16_t>(ports[0].port) : port;
  return server;
}

HttpServer::~HttpServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);  // joins civetweb's threads
}

int HttpServer::onMetrics(mg_connection* conn, void* self) noexcept {
  try {
    // Prometheus' text exposition format, version 0.0.4.
    return reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                 static_cast<HttpServer*>(self)->routes_.metrics());
  } catch (...) {
    return reply(conn, 500, "text/plain; charset=utf-8", "internal error\n");
  }
}

int HttpServer::onHealthz(mg_connection* conn, void* self) noexcept {
  return probe(conn, static_cast<HttpServer*>(self)->routes_.healthz);
}

int HttpServer::onReadyz(mg_connection* conn, void* self) noexcept {
  return probe(conn, static_cast<HttpServer*>(self)->routes_.readyz);
}

}  // namespace celeriac::worker::metrics
