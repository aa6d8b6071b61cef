// CurlTransport against a real llm-stub on 127.0.0.1: a real libuv loop, real sockets,
// the stub's admin API for faults and counters. Every wait is runUntil with a deadline.

#include "worker/http/curl_transport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "providers/open_ai_codec.h"
#include "providers/rate_limit_info.h"
#include "stub_server.h"
#include "test_loop.h"
#include "test_ports.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::testing::integration {
namespace {

using balancer::HttpRequest;
using balancer::HttpResponse;
using balancer::TransportError;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kSecretKey = "sk-test-never-in-errors-1234";

std::optional<std::string> header(const HttpResponse& r, std::string name) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  name = lower(name);
  for (const auto& h : r.headers) {
    if (lower(h.name) == name) return h.value;
  }
  return std::nullopt;
}

class CurlTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dispatcher_ = std::make_unique<worker::uv::UvDispatcher>(loop_.get());
    transport_ = std::make_unique<worker::http::CurlTransport>(*dispatcher_);
  }
  void TearDown() override {
    transport_.reset();
    dispatcher_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }

  HttpRequest chat(const std::string& model = "gpt-4o", const std::string& text = "hello",
                   const std::string& key = kSecretKey) {
    HttpRequest r;
    r.url = stub_.baseUrl() + "/chat/completions";
    r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}};
    r.body = nlohmann::json{{"model", model}, {"messages", {{{"role", "user"}, {"content", text}}}}}
                 .dump();
    r.connect_timeout = seconds(2);
    r.total_timeout = seconds(10);
    return r;
  }

  // Sends one request and runs the loop until it completes (bounded).
  HttpResponse roundTrip(HttpRequest request, milliseconds timeout = seconds(10)) {
    std::optional<HttpResponse> out;
    transport_->send(std::move(request), [&](HttpResponse r) { out = std::move(r); });
    EXPECT_TRUE(loop_.runUntil([&] { return out.has_value(); }, timeout));
    return out.value_or(HttpResponse{});
  }

  StubServer stub_;
  TestLoop loop_;
  std::unique_ptr<worker::uv::UvDispatcher> dispatcher_;
  std::unique_ptr<worker::http::CurlTransport> transport_;
};

TEST_F(CurlTransportTest, ChatCompletionRoundTripParsesRealUsage) {
  const HttpResponse r = roundTrip(chat("gpt-4o", "hello there stub"));
  ASSERT_EQ(r.error, TransportError::kNone) << r.error_detail;
  EXPECT_EQ(r.status, 200);
  EXPECT_GT(r.elapsed.count(), 0);
  const auto completion = balancer::OpenAiCodec{}.parseResponse(r.body);
  ASSERT_TRUE(completion.has_value()) << r.body;
  EXPECT_EQ(completion->model, "gpt-4o");
  EXPECT_NE(completion->content.find("hello there stub"), std::string::npos);
  ASSERT_TRUE(completion->usage.has_value());
  EXPECT_EQ(completion->usage->input_tokens, 4);  // 16 chars / 4, the stub's rule
  EXPECT_GT(completion->usage->output_tokens, 0);
  EXPECT_EQ(transport_->inFlight(), 0u);
}

TEST_F(CurlTransportTest, RateLimitHeadersAreVisibleAndParse) {
  const HttpResponse r = roundTrip(chat());
  ASSERT_EQ(r.status, 200) << r.error_detail;
  EXPECT_TRUE(header(r, "x-ratelimit-limit-requests").has_value());
  EXPECT_TRUE(header(r, "x-ratelimit-remaining-requests").has_value());
  EXPECT_TRUE(header(r, "x-ratelimit-reset-requests").has_value());
  EXPECT_TRUE(header(r, "content-type").has_value());
  EXPECT_FALSE(header(r, "HTTP/1.1 200 OK").has_value());  // status line is not a header
  const balancer::RateLimitInfo info =
      balancer::parseRateLimitHeaders(r.headers, std::chrono::system_clock::now());
  ASSERT_TRUE(info.remaining_requests.has_value());
  EXPECT_GT(*info.remaining_requests, 0);
}

TEST_F(CurlTransportTest, SequentialRequestsReuseOneKeptAliveConnection) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(roundTrip(chat()).status, 200);
  }
  // One kept-alive connection for all 20, plus the admin call's own.
  EXPECT_EQ(stub_.stats()["totals"]["connections_accepted"], 2);
}

TEST_F(CurlTransportTest, TwoHundredConcurrentRequestsCompleteOnOneLoop) {
  constexpr int kRequests = 200;
  int ok = 0;
  int done = 0;
  std::vector<int> calls(kRequests, 0);
  for (int i = 0; i < kRequests; ++i) {
    HttpRequest r = chat("gpt-4o", "request " + std::to_string(i));
    r.headers.push_back({"x-stub-latency-ms", "200"});  // all in flight at once
    transport_->send(std::move(r), [&, i](HttpResponse resp) {
      ++calls[static_cast<std::size_t>(i)];
      ++done;
      if (resp.status == 200 &&
          resp.body.find("request " + std::to_string(i) + "\"") != std::string::npos) {
        ++ok;
      }
    });
  }
  EXPECT_EQ(done, 0);  // nothing completes inside send()
  EXPECT_EQ(transport_->inFlight(), static_cast<std::size_t>(kRequests));
  ASSERT_TRUE(loop_.runUntil([&] { return done == kRequests; }, seconds(20)));
  EXPECT_EQ(ok, kRequests);
  EXPECT_TRUE(std::all_of(calls.begin(), calls.end(), [](int c) { return c == 1; }));
  const auto stats = stub_.stats();
  EXPECT_EQ(stats["totals"]["served"], kRequests);
  EXPECT_GT(stats["totals"]["in_flight_peak"].get<int>(), 100);  // truly concurrent
}

TEST_F(CurlTransportTest, ConnectionRefusedIsConnectFailed) {
  HttpRequest r = chat();
  r.url = "http://127.0.0.1:" + std::to_string(unusedLoopbackPort()) + "/v1/chat/completions";
  const HttpResponse resp = roundTrip(std::move(r));
  EXPECT_EQ(resp.error, TransportError::kConnectFailed) << resp.error_detail;
  EXPECT_EQ(resp.status, 0);
  EXPECT_FALSE(resp.error_detail.empty());
  EXPECT_EQ(resp.error_detail.find(kSecretKey), std::string::npos);
}

TEST_F(CurlTransportTest, HangIsTimeoutWithinTheTotalTimeout) {
  stub_.armFault({{"fault", "hang"}});
  HttpRequest r = chat();
  r.total_timeout = milliseconds(300);
  const HttpResponse resp = roundTrip(std::move(r), seconds(5));
  EXPECT_EQ(resp.error, TransportError::kTimeout) << resp.error_detail;
  EXPECT_GE(resp.elapsed, milliseconds(290));
  EXPECT_LT(resp.elapsed, milliseconds(1500));
  EXPECT_EQ(resp.error_detail.find(kSecretKey), std::string::npos);
}

TEST_F(CurlTransportTest, ResetIsConnectionReset) {
  stub_.armFault({{"fault", "reset"}});
  const HttpResponse resp = roundTrip(chat());
  EXPECT_EQ(resp.error, TransportError::kConnectionReset) << resp.error_detail;
  EXPECT_EQ(resp.status, 0);
  EXPECT_EQ(resp.error_detail.find(kSecretKey), std::string::npos);
  EXPECT_EQ(resp.error_detail.find("Bearer"), std::string::npos);
}

// libcurl alone sends a request again on a fresh connection when a reused one dies before
// any reply byte ("Connection died, retrying a fresh connect"), POST included: the server
// would see the call twice. The transport refuses that second attempt; only the balancer
// decides to send again.
TEST_F(CurlTransportTest, ACallWhoseReusedConnectionDiesIsNotSentAgainByTheTransport) {
  ASSERT_EQ(roundTrip(chat()).status, 200);  // leaves a kept-alive connection
  stub_.resetCounters();
  // The stub reads the request, then closes the connection without a byte of reply.
  stub_.armFault({{"fault", "close"}, {"count", 1}});
  const HttpResponse resp = roundTrip(chat());
  EXPECT_EQ(resp.error, TransportError::kConnectionReset) << resp.error_detail;
  EXPECT_EQ(stub_.stats()["totals"]["received"], 1);
  // The next call opens a fresh connection and is answered.
  EXPECT_EQ(roundTrip(chat()).status, 200);
}

TEST_F(CurlTransportTest, ErrorStatusIsAResponseNotATransportError) {
  stub_.armFault({{"fault", "rate_limit"}, {"retry_after_s", 7}});
  const HttpResponse resp = roundTrip(chat());
  EXPECT_EQ(resp.error, TransportError::kNone);
  EXPECT_EQ(resp.status, 429);
  EXPECT_EQ(header(resp, "retry-after"), "7");
}

TEST_F(CurlTransportTest, CancelInFlightFiresCancelledOnceAndNotInsideCancel) {
  stub_.armFault({{"fault", "hang"}});
  int calls = 0;
  TransportError error = TransportError::kNone;
  const auto id = transport_->send(chat(), [&](HttpResponse r) {
    ++calls;
    error = r.error;
  });
  // Let the request reach the stub first, so the cancel aborts a live transfer.
  ASSERT_TRUE(loop_.runUntil([&] { return stub_.stats()["totals"]["received"] == 1; }, seconds(5)));
  transport_->cancel(id);
  EXPECT_EQ(calls, 0);     // deferred
  transport_->cancel(id);  // again: no-op
  ASSERT_TRUE(loop_.runUntil([&] { return calls > 0; }, seconds(5)));
  loop_.runFor(milliseconds(100));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(error, TransportError::kCancelled);
  EXPECT_EQ(transport_->inFlight(), 0u);
}

TEST_F(CurlTransportTest, CancelBeforeStartAndAfterCompletion) {
  int cancelled_calls = 0;
  const auto early = transport_->send(chat(), [&](HttpResponse r) {
    ++cancelled_calls;
    EXPECT_EQ(r.error, TransportError::kCancelled);
  });
  transport_->cancel(early);  // before the loop ever ran
  int done_calls = 0;
  int status = 0;
  const auto later = transport_->send(chat(), [&](HttpResponse r) {
    ++done_calls;
    status = r.status;
  });
  ASSERT_TRUE(loop_.runUntil([&] { return done_calls == 1 && cancelled_calls == 1; }, seconds(5)));
  transport_->cancel(later);  // already completed: no-op, no second callback
  loop_.runFor(milliseconds(50));
  EXPECT_EQ(done_calls, 1);
  EXPECT_EQ(cancelled_calls, 1);
  EXPECT_EQ(status, 200);
}

TEST_F(CurlTransportTest, DestroyingTheTransportNeverCallsBack) {
  stub_.armFault({{"fault", "hang"}});
  int calls = 0;
  for (int i = 0; i < 5; ++i) transport_->send(chat(), [&](HttpResponse) { ++calls; });
  const auto cancelled = transport_->send(chat(), [&](HttpResponse) { ++calls; });
  ASSERT_TRUE(loop_.runUntil([&] { return stub_.stats()["totals"]["received"] == 6; }, seconds(5)));
  transport_->cancel(cancelled);  // its kCancelled is posted, not yet run
  transport_.reset();
  loop_.runFor(milliseconds(100));
  EXPECT_EQ(calls, 0);
}

TEST_F(CurlTransportTest, CallbackMayDestroyTheTransport) {
  int calls = 0;
  for (int i = 0; i < 3; ++i) {
    transport_->send(chat(), [&](HttpResponse) {
      ++calls;
      transport_.reset();
    });
  }
  ASSERT_TRUE(loop_.runUntil([&] { return calls > 0; }, seconds(5)));
  loop_.runFor(milliseconds(100));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace celeriac::testing::integration
