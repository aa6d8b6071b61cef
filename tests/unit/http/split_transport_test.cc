// SplitTransport: which client gets a request (HTTP/2 required: the own client; the
// rest: libcurl) and which one a cancel reaches, with two recording fakes.
#include "worker/http/split_transport.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace celeriac::worker::http {
namespace {

using balancer::HttpConnectionPolicy;
using balancer::HttpRequest;
using balancer::HttpRequestId;
using balancer::HttpResponse;
using balancer::HttpVersion;

class RecordingTransport : public balancer::HttpTransport {
 public:
  explicit RecordingTransport(HttpRequestId first_id) : next_id_(first_id) {}
  HttpRequestId send(HttpRequest request, std::function<void(HttpResponse)>) override {
    urls.push_back(request.url);
    return next_id_++;
  }
  void cancel(HttpRequestId id) override { cancelled.push_back(id); }

  std::vector<std::string> urls;
  std::vector<HttpRequestId> cancelled;

 private:
  HttpRequestId next_id_;
};

HttpRequest request(const std::string& url, HttpVersion version) {
  HttpRequest r;
  r.url = url;
  r.connection = HttpConnectionPolicy{version, 0, 0};
  return r;
}

TEST(SplitTransportTest, OnlyRequestsThatRequireHttp2GoToTheOwnClient) {
  RecordingTransport curl(1);
  RecordingTransport h2c(SplitTransport::kH2FirstId);
  SplitTransport split(curl, h2c);
  split.send(request("http://stub:8080/v1/chat", HttpVersion::kHttp2), {});
  split.send(request("https://api.example.com/v1/chat", HttpVersion::kHttp2), {});
  split.send(request("http://stub:8080/v1/chat", HttpVersion::kHttp1), {});
  split.send(request("http://stub:8080/v1/chat", HttpVersion::kAuto), {});
  split.send(request("HTTPS://api.example.com/v1/chat", HttpVersion::kHttp2), {});
  EXPECT_EQ(h2c.urls, (std::vector<std::string>{"http://stub:8080/v1/chat",
                                                "https://api.example.com/v1/chat"}));
  EXPECT_EQ(curl.urls.size(), 3U);
}

TEST(SplitTransportTest, ACancelReachesTheClientThatHasTheRequest) {
  RecordingTransport curl(1);
  RecordingTransport h2c(SplitTransport::kH2FirstId);
  SplitTransport split(curl, h2c);
  const HttpRequestId on_h2c = split.send(request("http://a/x", HttpVersion::kHttp2), {});
  const HttpRequestId on_curl = split.send(request("https://a/x", HttpVersion::kAuto), {});
  split.cancel(on_h2c);
  split.cancel(on_curl);
  EXPECT_EQ(h2c.cancelled, (std::vector<HttpRequestId>{on_h2c}));
  EXPECT_EQ(curl.cancelled, (std::vector<HttpRequestId>{on_curl}));
}

}  // namespace
}  // namespace celeriac::worker::http
