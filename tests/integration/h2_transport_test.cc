// H2Transport, the worker's own HTTP/2 client (h2c with prior knowledge), against a real
// llm-stub on 127.0.0.1: calls multiplexed on at most max_connections connections, at
// most max_streams_per_connection streams each, every answer on its own stream, and the
// transport errors a balancer classifies (refused, timeout, reset, too large, cancelled).
// The stub's /admin/stats counts connections and requests per protocol, so every claim
// about the wire is checked from the server's side.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stub_server.h"
#include "test_loop.h"
#include "test_ports.h"
#include "transport_calls.h"
#include "worker/http/h2_transport.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::testing::integration {
namespace {

using balancer::HttpConnectionPolicy;
using balancer::HttpRequest;
using balancer::HttpResponse;
using balancer::HttpVersion;
using balancer::TransportError;
using std::chrono::milliseconds;
using std::chrono::seconds;

class H2TransportTest : public ::testing::Test {
 protected:
  // Every answer waits 300 ms, so calls sent together are in flight together.
  H2TransportTest() : stub_({"--latency-ms", "300"}) {}

  void SetUp() override { makeTransport({}); }
  void TearDown() override {
    transport_.reset();
    dispatcher_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }

  void makeTransport(worker::http::H2TransportOptions options) {
    transport_.reset();
    dispatcher_ = std::make_unique<worker::uv::UvDispatcher>(loop_.get());
    transport_ = std::make_unique<worker::http::H2Transport>(*dispatcher_, std::move(options));
  }

  HttpRequest chat(const HttpConnectionPolicy& policy, int i) {
    return stubChatCall(stub_.baseUrl(), policy, i);
  }

  std::vector<HttpResponse> sendAll(std::vector<HttpRequest> requests) {
    return sendAllAndWait(*transport_, loop_, std::move(requests));
  }
  std::vector<HttpResponse> sendAll(const HttpConnectionPolicy& policy, int n) {
    std::vector<HttpRequest> requests;
    for (int i = 0; i < n; ++i) requests.push_back(chat(policy, i));
    return sendAll(std::move(requests));
  }

  nlohmann::json totals() { return stub_.stats()["totals"]; }

  StubServer stub_;
  TestLoop loop_;
  std::unique_ptr<worker::uv::UvDispatcher> dispatcher_;
  std::unique_ptr<worker::http::H2Transport> transport_;
};

const HttpConnectionPolicy kOneConnection{HttpVersion::kHttp2, 1, 0};

TEST_F(H2TransportTest, ManyCallsAreMultiplexedOverAtMostMaxConnectionsWithPriorKnowledge) {
  stub_.resetCounters();
  const auto responses = sendAll(HttpConnectionPolicy{HttpVersion::kHttp2, 2, 100}, 150);
  expectEachAnsweredItsOwnCall(responses);
  const nlohmann::json t = totals();
  EXPECT_EQ(t["requests_by_protocol"]["HTTP/2"], 150);
  EXPECT_EQ(t["requests_by_protocol"]["HTTP/1.1"], 0);
  const nlohmann::json& h2 = t["connections_by_protocol"]["HTTP/2"];
  EXPECT_EQ(h2["accepted"], 2) << t.dump();             // 150 calls need both
  EXPECT_EQ(h2["upgraded_from_http1"], 0) << t.dump();  // HTTP/2 from the first byte
  EXPECT_GT(t["in_flight_peak"].get<int>(), 100) << t.dump();
  EXPECT_EQ(transport_->connections(), 2U);
  EXPECT_EQ(transport_->inFlight(), 0U);
}

TEST_F(H2TransportTest, OneConnectionCarriesStreamsUpToItsLimitThenCallsWaitInOrder) {
  stub_.resetCounters();
  expectEachAnsweredItsOwnCall(sendAll(HttpConnectionPolicy{HttpVersion::kHttp2, 1, 10}, 30));
  const nlohmann::json t = totals();
  EXPECT_EQ(t["connections_by_protocol"]["HTTP/2"]["accepted"], 1) << t.dump();
  EXPECT_EQ(t["requests_by_protocol"]["HTTP/2"], 30);
  EXPECT_EQ(t["in_flight_peak"], 10) << t.dump();
}

TEST_F(H2TransportTest, LaterCallsReuseTheConnection) {
  expectEachAnsweredItsOwnCall(sendAll(kOneConnection, 3));
  stub_.resetCounters();
  expectEachAnsweredItsOwnCall(sendAll(kOneConnection, 3));
  EXPECT_EQ(totals()["connections_by_protocol"]["HTTP/2"]["accepted"], 0);
  EXPECT_EQ(totals()["requests_by_protocol"]["HTTP/2"], 3);
}

TEST_F(H2TransportTest, CancellingOneStreamLeavesTheOthersOnTheConnection) {
  stub_.resetCounters();
  std::vector<std::optional<HttpResponse>> out(3);
  std::vector<balancer::HttpRequestId> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(transport_->send(chat(kOneConnection, i), [&out, i](HttpResponse r) {
      out[static_cast<std::size_t>(i)] = std::move(r);
    }));
  }
  ASSERT_TRUE(loop_.runUntil([&] { return totals()["in_flight_peak"] == 3; }, seconds(10)));
  transport_->cancel(ids[1]);
  transport_->cancel(ids[1]);  // a second cancel is a no-op
  ASSERT_TRUE(loop_.runUntil([&] { return out[0] && out[1] && out[2]; }, seconds(30)));
  EXPECT_EQ(out[1]->error, TransportError::kCancelled);
  EXPECT_EQ(out[0]->status, 200) << out[0]->error_detail;
  EXPECT_EQ(out[2]->status, 200) << out[2]->error_detail;
  EXPECT_EQ(totals()["connections_by_protocol"]["HTTP/2"]["accepted"], 1);
}

TEST_F(H2TransportTest, ACancelledCallsStreamGoesToTheNextWaitingCall) {
  // One connection of one stream: B waits behind A until A is cancelled. The stub never
  // answers a cancelled stream, so only the cancel itself can free the stream for B.
  const HttpConnectionPolicy one_stream{HttpVersion::kHttp2, 1, 1};
  stub_.resetCounters();
  std::optional<HttpResponse> a;
  std::optional<HttpResponse> b;
  const auto a_id =
      transport_->send(chat(one_stream, 0), [&a](HttpResponse r) { a = std::move(r); });
  HttpRequest second = chat(one_stream, 1);
  second.total_timeout = seconds(20);
  transport_->send(std::move(second), [&b](HttpResponse r) { b = std::move(r); });
  ASSERT_TRUE(loop_.runUntil([&] { return totals()["in_flight"] == 1; }, seconds(10)));
  transport_->cancel(a_id);
  ASSERT_TRUE(loop_.runUntil([&] { return a && b; }, seconds(30)));
  EXPECT_EQ(a->error, TransportError::kCancelled);
  EXPECT_EQ(b->error, TransportError::kNone) << b->error_detail;
  EXPECT_EQ(b->status, 200);
}

TEST_F(H2TransportTest, StatusFaultsAreRepliesAndAResetIsAConnectionReset) {
  stub_.armFault({{"fault", "status"}, {"status", 503}, {"count", 1}});
  const auto r = sendAll(kOneConnection, 1);
  EXPECT_EQ(r[0].status, 503);
  EXPECT_FALSE(r[0].headers.empty());
  stub_.armFault({{"fault", "reset"}, {"count", 1}});
  const auto reset = sendAll(kOneConnection, 1);
  EXPECT_EQ(reset[0].error, TransportError::kConnectionReset) << reset[0].error_detail;
  EXPECT_NE(reset[0].error_detail.find("127.0.0.1:"), std::string::npos) << reset[0].error_detail;
  expectEachAnsweredItsOwnCall(sendAll(kOneConnection, 1));  // the connection carries on
}

TEST_F(H2TransportTest, ACallWhoseConnectionDiesFailsOnceAndIsNotSentAgain) {
  expectEachAnsweredItsOwnCall(sendAll(kOneConnection, 1));  // a connection, kept
  stub_.resetCounters();
  stub_.armFault({{"fault", "close"}, {"count", 1}});  // closes the whole connection
  const auto r = sendAll(kOneConnection, 1);
  EXPECT_EQ(r[0].error, TransportError::kConnectionReset) << r[0].error_detail;
  EXPECT_EQ(totals()["received"], 1) << totals().dump();
  expectEachAnsweredItsOwnCall(sendAll(kOneConnection, 1));  // on a new connection
  EXPECT_EQ(totals()["connections_by_protocol"]["HTTP/2"]["accepted"], 1) << totals().dump();
}

TEST_F(H2TransportTest, NothingListeningIsConnectFailedNamingTheAddressOnly) {
  // 150 calls need two connections of 100 streams: both are refused, and every call
  // fails at once as refused (not by timing out while connections are retried).
  HttpRequest r = chat(HttpConnectionPolicy{HttpVersion::kHttp2, 0, 0}, 0);
  r.url = "http://127.0.0.1:" + std::to_string(unusedLoopbackPort()) + "/v1/chat/completions";
  r.total_timeout = seconds(20);
  const auto out = sendAll(std::vector<HttpRequest>(150, r));
  for (const auto& response : out) {
    EXPECT_EQ(response.error, TransportError::kConnectFailed) << response.error_detail;
    EXPECT_NE(response.error_detail.find("127.0.0.1:"), std::string::npos);
    EXPECT_EQ(response.error_detail.find("sk-h2-test"), std::string::npos);
    EXPECT_EQ(response.error_detail.find("chat/completions"), std::string::npos);
  }
}

TEST_F(H2TransportTest, ACallPastItsTotalTimeoutIsATimeoutAndItsStreamAloneIsReset) {
  stub_.resetCounters();
  HttpRequest slow = chat(kOneConnection, 0);
  slow.total_timeout = milliseconds(100);  // the stub answers after 300 ms
  const auto out = sendAll({slow, chat(kOneConnection, 1)});
  EXPECT_EQ(out[0].error, TransportError::kTimeout) << out[0].error_detail;
  EXPECT_EQ(out[1].status, 200) << out[1].error_detail;
  EXPECT_EQ(totals()["connections_by_protocol"]["HTTP/2"]["accepted"], 1);
  // A connection a call timed out on may be dead without knowing it: the next call
  // goes on a fresh one.
  expectEachAnsweredItsOwnCall(sendAll(kOneConnection, 1));
  EXPECT_EQ(totals()["connections_by_protocol"]["HTTP/2"]["accepted"], 2);
}

TEST_F(H2TransportTest, AReplyBodyOverTheLimitIsAnErrorNotAnAllocation) {
  worker::http::H2TransportOptions options;
  options.max_body_bytes = 64;
  makeTransport(options);
  const auto out = sendAll(kOneConnection, 1);
  EXPECT_EQ(out[0].error, TransportError::kOther);
  EXPECT_NE(out[0].error_detail.find("over 64 bytes"), std::string::npos) << out[0].error_detail;
  EXPECT_TRUE(out[0].body.empty());
}

TEST_F(H2TransportTest, AUrlThatIsNotHttpIsRefusedWithAClearError) {
  HttpRequest ftp = chat(kOneConnection, 0);
  ftp.url = "ftp://127.0.0.1:1/v1/chat/completions";
  HttpRequest garbage = chat(kOneConnection, 1);
  garbage.url = "http://";
  const auto out = sendAll({ftp, garbage});
  EXPECT_EQ(out[0].error, TransportError::kOther);
  EXPECT_EQ(out[0].error_detail, "not an http:// or https:// URL");
  EXPECT_EQ(out[1].error, TransportError::kOther);
  EXPECT_EQ(out[1].error_detail, "not a valid URL");
}

TEST_F(H2TransportTest, DestroyedWithCallsInFlightItNeverCallsBack) {
  int called = 0;
  for (int i = 0; i < 5; ++i) {
    transport_->send(chat(kOneConnection, i), [&called](HttpResponse) { ++called; });
  }
  ASSERT_TRUE(loop_.runUntil([&] { return totals()["in_flight"] == 5; }, seconds(10)));
  transport_.reset();
  loop_.runFor(milliseconds(500));
  EXPECT_EQ(called, 0);
}

TEST_F(H2TransportTest, DestroyedAtAnyStepOfConnectingItNeverCallsBackAndLeavesNoRequest) {
  // Destroyed after 0, 1, 2 ... turns of the loop (each turn handles at least one event):
  // while the address is being resolved, while the TCP connect is pending, after the
  // preface is sent, until the turn in which the answer arrives. Each pending libuv
  // request comes back cancelled to a connection that is gone; under ASan a request freed
  // twice, or one touching the dead connection, fails here, and TearDown's close finds
  // any left open.
  int turns = 0;
  for (;; ++turns) {
    ASSERT_LT(turns, 100) << "the call was never answered";
    makeTransport({});
    int called = 0;
    transport_->send(chat(kOneConnection, turns), [&called](HttpResponse) { ++called; });
    for (int i = 0; i < turns && called == 0; ++i) uv_run(loop_.get(), UV_RUN_ONCE);
    if (called != 0) break;  // answered: every step before it has been covered
    transport_.reset();
    loop_.runFor(milliseconds(50));
    EXPECT_EQ(called, 0) << "destroyed after " << turns << " turns";
  }
  // Resolving, connecting and sending take a turn each at least.
  EXPECT_GE(turns, 3);
}

}  // namespace
}  // namespace celeriac::testing::integration
