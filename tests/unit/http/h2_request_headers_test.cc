// H2RequestHeaders: the header block an HTTP/2 request goes out with (pseudo-headers
// first, lower-case names, no HTTP/1.1 connection headers).
#include "worker/http/h2_request_headers.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace celeriac::worker::http {
namespace {

using Block = std::vector<std::pair<std::string, std::string>>;

Block block(const H2RequestHeaders& headers) {
  Block out;
  for (const nghttp2_nv& nv : headers.nva()) {
    out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                     std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
  }
  return out;
}

TEST(H2RequestHeadersTest, PseudoHeadersFirstThenLowerCaseNamesAndTheBodyLength) {
  H2Call call;
  call.method = "POST";
  call.path = "/v1/chat/completions?x=1";
  call.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer k"}};
  call.body = "{\"a\":1}";
  const H2RequestHeaders headers(call, "http", "127.0.0.1:8080", "celeriac/0.1");
  EXPECT_EQ(block(headers), (Block{{":method", "POST"},
                                   {":scheme", "http"},
                                   {":path", "/v1/chat/completions?x=1"},
                                   {":authority", "127.0.0.1:8080"},
                                   {"content-type", "application/json"},
                                   {"authorization", "Bearer k"},
                                   {"user-agent", "celeriac/0.1"},
                                   {"content-length", "7"}}));
}

TEST(H2RequestHeadersTest, CredentialHeadersAreNeverIndexedByHpack) {
  H2Call call;
  call.method = "POST";
  call.headers = {{"Authorization", "Bearer k"}, {"X-Api-Key", "k2"}, {"Content-Type", "a/b"}};
  const H2RequestHeaders headers(call, "https", "h", "celeriac/0.1");
  for (const nghttp2_nv& nv : headers.nva()) {
    const std::string name(reinterpret_cast<const char*>(nv.name), nv.namelen);
    const bool secret = name == "authorization" || name == "x-api-key";
    EXPECT_EQ(nv.flags, secret ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE) << name;
  }
}

TEST(H2RequestHeadersTest, ConnectionHeadersAreDroppedAndAGivenUserAgentIsKept) {
  H2Call call;
  call.method = "GET";
  call.path = "";
  call.headers = {{"Connection", "keep-alive"}, {"Host", "x"},     {"Transfer-Encoding", "chunked"},
                  {"Expect", "100-continue"},   {"TE", "trailers"}, {"User-Agent", "probe/1"},
                  {"Content-Length", "99"}};
  const H2RequestHeaders headers(call, "https", "h", "celeriac/0.1");
  EXPECT_EQ(block(headers), (Block{{":method", "GET"},
                                   {":scheme", "https"},
                                   {":path", "/"},
                                   {":authority", "h"},
                                   {"user-agent", "probe/1"}}));
}

}  // namespace
}  // namespace celeriac::worker::http
