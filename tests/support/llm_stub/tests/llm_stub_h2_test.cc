// The llm-stub's HTTP/2 (h2c) on the port that also serves HTTP/1.1: prior knowledge
// from a real nghttp2 client (h2_client.h), many streams on one connection, the same
// routes, fault plans, rate limits and stats as HTTP/1.1, and the Upgrade: h2c path.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "h2_client.h"
#include "http_client.h"
#include "stub_process.h"

namespace celeriac::testing::stub {
namespace {

using std::chrono::milliseconds;

std::string content(const H2Result& r) {
  return r.json()["choices"][0]["message"]["content"].get<std::string>();
}

TEST(LlmStubH2Test, PriorKnowledgeOnTheHttp11PortAnswersLikeHttp11) {
  StubProcess stub;
  const H2Exchange x = h2Exchange(stub.port(), {h2Chat("k1", "gpt-4o", "hello over h2")});
  ASSERT_FALSE(x.timed_out || x.connection_failed);
  const H2Result& r = x.results.at(0);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["model"], "gpt-4o");
  EXPECT_NE(content(r).find("hello over h2"), std::string::npos);
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.headers.count("x-ratelimit-remaining-requests"), 1u);
  // HTTP/1.1 on the same port still works.
  EXPECT_EQ(chat(stub.port(), "k1", simpleChat("gpt-4o", "hello over 1.1")).status, 200);
  const nlohmann::json t = stats(stub.port())["totals"];
  EXPECT_EQ(t["requests_by_protocol"]["HTTP/2"], 1);
  EXPECT_EQ(t["requests_by_protocol"]["HTTP/1.1"], 1);
  EXPECT_EQ(t["connections_by_protocol"]["HTTP/2"]["accepted"], 1);
  EXPECT_EQ(stats(stub.port())["keys"]["k1"]["received"], 2);
}

TEST(LlmStubH2Test, ManyStreamsOnOneConnectionAreHeldAtOnce) {
  StubProcess stub({"--latency-ms", "1000"});
  std::vector<H2Request> requests;
  for (int i = 0; i < 50; ++i)
    requests.push_back(h2Chat("k1", "gpt-4o", "n" + std::to_string(i) + "!"));
  const H2Exchange x = h2Exchange(stub.port(), requests, std::chrono::seconds(20));
  ASSERT_FALSE(x.timed_out || x.connection_failed);
  for (int i = 0; i < 50; ++i) {
    const H2Result& r = x.results.at(static_cast<std::size_t>(i));
    ASSERT_EQ(r.status, 200) << i << ": " << r.body;
    EXPECT_NE(content(r).find("n" + std::to_string(i) + "!"), std::string::npos);
  }
  const nlohmann::json t = stats(stub.port())["totals"];
  EXPECT_EQ(t["in_flight_peak"], 50);  // all waited their second together
  EXPECT_EQ(t["connections_by_protocol"]["HTTP/2"]["accepted"], 1);
  EXPECT_EQ(t["served"], 50);
}

TEST(LlmStubH2Test, FaultsApplyPerStreamAndLeaveTheConnectionToTheOthers) {
  StubProcess stub;
  ASSERT_EQ(armFault(stub.port(), {{"fault", "status"}, {"status", 503}, {"count", 1}}).status,
            200);
  ASSERT_EQ(
      armFault(stub.port(), {{"fault", "reset"}, {"count", 1}, {"model", "gpt-4o-mini"}}).status,
      200);
  // Streams are decided in the order they arrive: the first gpt-4o gets the 503, the
  // first gpt-4o-mini is reset (RST_STREAM), the rest are answered on the same connection.
  const H2Exchange x =
      h2Exchange(stub.port(), {h2Chat("k1", "gpt-4o", "a"), h2Chat("k1", "gpt-4o-mini", "b"),
                               h2Chat("k1", "gpt-4o", "c"), h2Chat("k1", "gpt-4o-mini", "d")});
  ASSERT_FALSE(x.timed_out || x.connection_failed);
  EXPECT_EQ(x.results[0].status, 503);
  EXPECT_EQ(x.results[0].json()["error"]["type"], "server_error");
  EXPECT_EQ(x.results[1].status, 0);
  EXPECT_NE(x.results[1].reset_code, 0u);
  EXPECT_EQ(x.results[2].status, 200);
  EXPECT_EQ(x.results[3].status, 200);
  const nlohmann::json t = stats(stub.port())["totals"];
  EXPECT_EQ(t["faults"]["status"], 1);
  EXPECT_EQ(t["faults"]["reset"], 1);
  EXPECT_EQ(t["connections_by_protocol"]["HTTP/2"]["accepted"], 1);
}

TEST(LlmStubH2Test, RateLimitOverHttp2Answers429WithRetryAfter) {
  StubProcess stub({"--rpm-limit", "2"});
  const H2Exchange x = h2Exchange(
      stub.port(),
      {h2Chat("k1", "gpt-4o", "1"), h2Chat("k1", "gpt-4o", "2"), h2Chat("k1", "gpt-4o", "3")});
  ASSERT_FALSE(x.timed_out || x.connection_failed);
  EXPECT_EQ(x.results[0].status, 200);
  EXPECT_EQ(x.results[1].status, 200);
  EXPECT_EQ(x.results[2].status, 429);
  EXPECT_EQ(x.results[2].headers.count("retry-after"), 1u);
  EXPECT_EQ(stats(stub.port())["totals"]["limiter_rejections"], 1);
}

TEST(LlmStubH2Test, AHangingStreamDoesNotHoldTheOthersAndCountsAsDroppedWhenTheClientGoes) {
  StubProcess stub;
  ASSERT_EQ(armFault(stub.port(), {{"fault", "hang"}, {"count", 1}}).status, 200);
  const H2Exchange x =
      h2Exchange(stub.port(), {h2Chat("k1", "gpt-4o", "hang"), h2Chat("k1", "gpt-4o", "ok")},
                 milliseconds(1500));
  EXPECT_TRUE(x.timed_out);  // the hanging stream never ended
  EXPECT_FALSE(x.results[0].closed);
  EXPECT_EQ(x.results[1].status, 200);
  // The client has closed the connection: the stub reports the hung reply as dropped.
  nlohmann::json t;
  for (int i = 0; i < 100; ++i) {
    t = stats(stub.port())["totals"];
    if (t["dropped"] == 1) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(t["dropped"], 1);
  EXPECT_EQ(t["in_flight"], 0);
}

TEST(LlmStubH2Test, SlowDripOverHttp2DeliversTheWholeNormalAnswer) {
  StubProcess stub;
  ASSERT_EQ(
      armFault(stub.port(),
               {{"fault", "slow_drip"}, {"duration_ms", 300}, {"chunk_bytes", 64}, {"count", 1}})
          .status,
      200);
  const H2Exchange x = h2Exchange(stub.port(), {h2Chat("k1", "gpt-4o", "drip")});
  ASSERT_FALSE(x.timed_out || x.connection_failed);
  ASSERT_EQ(x.results[0].status, 200);
  EXPECT_NE(content(x.results[0]).find("drip"), std::string::npos);
  EXPECT_EQ(x.results[0].headers.at("content-length"), std::to_string(x.results[0].body.size()));
  EXPECT_EQ(stats(stub.port())["totals"]["faults"]["slow_drip"], 1);
}

TEST(LlmStubH2Test, AnHttp11RequestAskingForH2cIsAnsweredWith101) {
  StubProcess stub;
  const int fd = connectLoopback(stub.port());
  ASSERT_GE(fd, 0);
  // An empty SETTINGS payload is "" in base64url.
  const std::string req = formatRequest("GET", "/v1/models", "",
                                        {{"Authorization", "Bearer k1"},
                                         {"Connection", "Upgrade, HTTP2-Settings"},
                                         {"Upgrade", "h2c"},
                                         {"HTTP2-Settings", ""}});
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Upgrade: h2c"), std::string::npos);
  const nlohmann::json h2 = stats(stub.port())["totals"]["connections_by_protocol"]["HTTP/2"];
  EXPECT_EQ(h2["upgraded_from_http1"], 1);
  EXPECT_EQ(h2["accepted"], 1);
}

TEST(LlmStubH2Test, AnUpgradeRequestWhoseBodyArrivesInPiecesIsUpgradedWhenComplete) {
  StubProcess stub;
  const int fd = connectLoopback(stub.port());
  ASSERT_GE(fd, 0);
  const std::string body = simpleChat("gpt-4o", "split body").dump();
  const std::string req = formatRequest("POST", "/v1/chat/completions", body,
                                        {{"Authorization", "Bearer k1"},
                                         {"Content-Type", "application/json"},
                                         {"Connection", "Upgrade, HTTP2-Settings"},
                                         {"Upgrade", "h2c"},
                                         {"HTTP2-Settings", ""}});
  // Headers and half the body first, the rest later: the stub must wait for it.
  const std::size_t cut = req.size() - body.size() / 2;
  ASSERT_EQ(::send(fd, req.data(), cut, MSG_NOSIGNAL), static_cast<ssize_t>(cut));
  std::this_thread::sleep_for(milliseconds(100));
  ASSERT_EQ(::send(fd, req.data() + cut, req.size() - cut, MSG_NOSIGNAL),
            static_cast<ssize_t>(req.size() - cut));
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << got;
  EXPECT_EQ(stats(stub.port())["totals"]["requests_by_protocol"]["HTTP/2"], 1);
}

}  // namespace
}  // namespace celeriac::testing::stub
