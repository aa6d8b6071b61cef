// HttpServer (worker/metrics/http_server.h) on real sockets: it serves its three routes
// on the port it bound, and a second server on a port already taken does not start but
// returns an Error that names the address (the worker logs it and runs on).

#include "worker/metrics/http_server.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace celeriac::worker::metrics {
namespace {

HttpServer::Routes routes() {
  HttpServer::Routes r;
  r.metrics = [] { return std::string("celeriac_up 1\n"); };
  r.healthz = [] { return ProbeAnswer{200, "ok"}; };
  r.readyz = [] { return ProbeAnswer{503, "broker not connected"}; };
  return r;
}

struct Reply {
  long status = 0;
  std::string body;
};

Reply get(std::uint16_t port, const std::string& path) {
  Reply reply;
  CURL* easy = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(
      easy, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) -> size_t {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  if (curl_easy_perform(easy) == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply.status);
  }
  curl_easy_cleanup(easy);
  return reply;
}

TEST(HttpServerTest, ServesItsRoutesOnTheBoundPort) {
  auto started = HttpServer::start("127.0.0.1", 0, routes());
  ASSERT_TRUE(started.ok()) << started.error().message;
  const std::unique_ptr<HttpServer> server = std::move(started).value();
  ASSERT_NE(server->port(), 0);

  const Reply metrics = get(server->port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.body, "celeriac_up 1\n");
  const Reply healthz = get(server->port(), "/healthz");
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.body, "ok\n");
  const Reply readyz = get(server->port(), "/readyz");
  EXPECT_EQ(readyz.status, 503);
  EXPECT_EQ(readyz.body, "broker not connected\n");
}

TEST(HttpServerTest, ATakenPortIsAnErrorNamingTheAddress) {
  auto first = HttpServer::start("127.0.0.1", 0, routes());
  ASSERT_TRUE(first.ok()) << first.error().message;
  const std::uint16_t port = first.value()->port();

  auto second = HttpServer::start("127.0.0.1", port, routes());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("cannot serve HTTP on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << second.error().message;
  // The first server is unaffected.
  EXPECT_EQ(get(port, "/healthz").status, 200);
}

}  // namespace
}  // namespace celeriac::worker::metrics
