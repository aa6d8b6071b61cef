#include "balancer/balancer.h"

#include <gtest/gtest.h>

#include <optional>

#include "balancer_fixture.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using celeriac::testing::FakeDispatcher;
using celeriac::testing::FakeTransport;

constexpr const char* kTwoModels = R"(
backoff: {base: 0.1, cap: 1}
max_attempts: 4
circuit_breaker: {consecutive_failures: 3, cooldown: 60}
endpoints:
  - {name: e1, url: "http://e1/v1", models: [m1], api_key_env: KEY_A}
  - {name: e2, url: "http://e2/v1", models: [m2], api_key_env: KEY_B}
routes:
  general: {normal: [m1, m2]}
pricing:
  m1: {input: 1, output: 4}
)";

TEST_F(BalancerTest, SuccessCarriesContentEndpointKeyUsageCostAndTrace) {
  make(kTwoModels);
  submitModel("m1");
  ASSERT_EQ(http_.count(), 1u) << "nothing queued: sent at once, inside submit";
  EXPECT_TRUE(results_.empty());
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  EXPECT_EQ(http_.request(0).url, "http://e1/v1/chat/completions");
  loop_.advance(250ms);
  http_.reply(0, 200, okBody("hi"));
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  ASSERT_TRUE(results_[0].ok());
  const auto& s = results_[0].success();
  EXPECT_EQ(s.content, "hi");
  EXPECT_EQ(s.endpoint, "e1");
  EXPECT_EQ(s.key_alias, "e1");
  EXPECT_EQ(s.latency, 250ms);
  ASSERT_TRUE(s.usage);
  EXPECT_EQ(s.usage->total(), 150);
  EXPECT_DOUBLE_EQ(s.cost_usd, (100 * 1.0 + 50 * 4.0) / 1e6);
  EXPECT_TRUE(traceHas(results_[0], TraceEntry::Kind::kAttempt, "ok"));
}

TEST_F(BalancerTest, CallbackNeverFiresInsideSubmitEvenForBadRoutes) {
  make(kTwoModels);
  submitRoute("nope", "normal");
  EXPECT_TRUE(results_.empty());
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kCallerError);
}

TEST_F(BalancerTest, AChatCallHandsItsRequestBackWithTheResultSuccessOrNot) {
  make(kTwoModels);
  ChatRequest first;
  first.model = "m1";
  first.messages = {ChatMessage::text("system", "be brief"), ChatMessage::text("user", "hello")};
  first.max_tokens = 77;
  submit(first);
  ChatRequest second = first;
  second.messages.back() = ChatMessage::text("user", "again");
  submit(second);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  http_.reply(0, 200, okBody("hi"));
  http_.reply(1, 400, R"({"error":{"message":"bad prompt"}})");
  loop_.runReady();
  ASSERT_EQ(results_.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const ChatRequest& sent = i == 0 ? first : second;
    ASSERT_TRUE(results_[i].request.has_value()) << "result " << i;
    const ChatRequest& back = *results_[i].request;
    EXPECT_EQ(back.model, sent.model);
    EXPECT_EQ(back.max_tokens, sent.max_tokens);
    ASSERT_EQ(back.messages.size(), 2u);
    for (std::size_t m = 0; m < 2; ++m) {
      EXPECT_EQ(back.messages[m].role, sent.messages[m].role);
      EXPECT_EQ(back.messages[m].parts[0].text, sent.messages[m].parts[0].text);
    }
  }
  EXPECT_TRUE(results_[0].ok());
  EXPECT_EQ(results_[1].failure().kind, CallErrorKind::kCallerError);
}

TEST_F(BalancerTest, CallerErrorIsNotRetriedAndLeavesBreakerClosed) {
  make(kTwoModels);
  for (int i = 0; i < 5; ++i) {
    submitRoute("general", "normal");
    loop_.runReady();
    http_.reply(http_.count() - 1, 400, R"({"error":{"message":"bad prompt"}})");
    loop_.runReady();
  }
  EXPECT_EQ(http_.count(), 5u);
  ASSERT_EQ(results_.size(), 5u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kCallerError);
  EXPECT_EQ(results_[0].failure().http_status, 400);
  EXPECT_EQ(results_[0].failure().message, "bad prompt");
  EXPECT_EQ(balancer_->stats()["endpoints"][0]["models"][0]["breaker"], "closed");
}

TEST_F(BalancerTest, WalksTheChainToTheNextModelOnOverload) {
  make(kTwoModels);
  submitRoute("general", "normal");
  loop_.runReady();
  http_.reply(0, 503, "");
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_EQ(http_.request(1).url, "http://e2/v1/chat/completions");
  http_.reply(1, 200, okBody("from m2", "m2"));
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  EXPECT_EQ(results_[0].success().model, "m2");
  EXPECT_EQ(results_[0].success().attempts, 2);
  EXPECT_TRUE(traceHas(results_[0], TraceEntry::Kind::kAttempt, "overloaded"));
  EXPECT_TRUE(traceHas(results_[0], TraceEntry::Kind::kSkipped, "backoff"));
}

TEST_F(BalancerTest, OpenBreakerIsSkippedWithReasonAndComesBackAfterCooldown) {
  make(kTwoModels);
  for (int i = 0; i < 3; ++i) {  // three calls, each fails on m1 then succeeds on m2
    submitRoute("general", "normal");
    loop_.runReady();
    http_.reply(http_.count() - 1, 500, "");
    loop_.runReady();
    http_.reply(http_.count() - 1, 200, okBody("ok", "m2"));
    loop_.runReady();
  }
  submitRoute("general", "normal");
  loop_.runReady();
  EXPECT_EQ(http_.request(http_.count() - 1).url, "http://e2/v1/chat/completions");
  http_.reply(http_.count() - 1, 200, okBody("ok", "m2"));
  loop_.runReady();
  EXPECT_TRUE(traceHas(results_.back(), TraceEntry::Kind::kSkipped, "breaker_open"));
  loop_.advance(60s);
  submitRoute("general", "normal");
  loop_.runReady();
  EXPECT_EQ(http_.request(http_.count() - 1).url, "http://e1/v1/chat/completions");
}

TEST_F(BalancerTest, AllBreakersOpenFailsFastWithEarliestRetryTime) {
  std::string yaml = kTwoModels;
  yaml.replace(yaml.find("max_attempts: 4"), 15, "max_attempts: 2");
  make(yaml);
  for (int i = 0; i < 3; ++i) {  // each call: m1 fails, m2 fails, attempts exhausted
    submitRoute("general", "normal");
    loop_.runReady();
    http_.reply(http_.count() - 1, 500, "");
    loop_.runReady();
    http_.reply(http_.count() - 1, 500, "");
    loop_.runReady();
  }
  ASSERT_EQ(http_.count(), 6u);
  const auto opened_at = loop_.clock().now();
  const std::size_t sent = http_.count();
  results_.clear();
  submitRoute("general", "normal");
  loop_.runReady();
  EXPECT_EQ(http_.count(), sent) << "never bypasses open breakers";
  ASSERT_EQ(results_.size(), 1u);
  const auto& f = results_[0].failure();
  EXPECT_EQ(f.kind, CallErrorKind::kAllUnavailable);
  ASSERT_TRUE(f.retry_at);
  EXPECT_GT(*f.retry_at, opened_at + 50s);
  EXPECT_LE(*f.retry_at, opened_at + 60s);
  EXPECT_TRUE(f.retry_at_wall);
}

TEST_F(BalancerTest, AttemptCapBoundsRetriesTimesFallbacks) {
  make(R"(
max_attempts: 2
backoff: {base: 0.001, cap: 0.001}
endpoints:
  - {name: a, url: "http://a", models: [m]}
  - {name: b, url: "http://b", models: [m]}
  - {name: c, url: "http://c", models: [m]}
)");
  submitModel("m");
  loop_.runReady();
  http_.reply(0, 502, "");
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  http_.reply(1, 502, "");
  loop_.runReady();
  EXPECT_EQ(http_.count(), 2u);
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kAttemptsExhausted);
  EXPECT_EQ(results_[0].failure().attempts, 2);
  EXPECT_EQ(results_[0].failure().last_failure, FailureClass::kServerError);
}

TEST_F(BalancerTest, TransportTimeoutPastTheDeadlineIsDeadlineExceeded) {
  make(kTwoModels);
  submitModel("m1", 2s);
  loop_.runReady();
  EXPECT_LE(http_.request(0).total_timeout, 2s);
  loop_.advance(2s);
  http_.fail(0, TransportError::kTimeout);
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kDeadlineExceeded);
}

TEST_F(BalancerTest, CancelInFlightFiresOnceWithCancelled) {
  make(kTwoModels);
  const CallId id = submitModel("m1");
  loop_.runReady();
  balancer_->cancel(id);
  EXPECT_TRUE(results_.empty());
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kCancelled);
  EXPECT_EQ(balancer_->callsInFlight(), 0u);
}

TEST_F(BalancerTest, DestroyingTheBalancerCancelsRequestsAndNeverCallsBack) {
  make(kTwoModels);
  submitModel("m1");
  loop_.runReady();
  balancer_.reset();
  loop_.runReady();
  EXPECT_EQ(http_.open(), 0u);
  EXPECT_TRUE(results_.empty());
}

TEST_F(BalancerTest, WeightedStrategySpreadsCallsByWeight) {
  make(R"(
strategy: weighted
endpoints:
  - {name: a, url: "http://a", models: [m], weight: 2}
  - {name: b, url: "http://b", models: [m], weight: 1}
)");
  for (int i = 0; i < 300; ++i) submitModel("m");
  loop_.runReady();
  int to_a = 0;
  for (std::size_t i = 0; i < http_.count(); ++i)
    to_a += http_.request(i).url.starts_with("http://a") ? 1 : 0;
  EXPECT_EQ(to_a, 200);
}

// After its breaker closes, a target takes a growing share of the picks over `ramp`,
// whatever the strategy (weighted reads it as weight; the others draw).
TEST_F(BalancerTest, ARecoveredEndpointRampsBackUnderRoundRobinToo) {
  make(R"(
strategy: round_robin
max_attempts: 1
circuit_breaker: {consecutive_failures: 1, cooldown: 10, ramp: 30}
endpoints:
  - {name: a, url: "http://a", models: [m]}
  - {name: b, url: "http://b", models: [m]}
)");
  auto sendToA = [&](int status) {  // round robin alternates: one call on each endpoint
    for (int i = 0; i < 2; ++i) {
      submitModel("m");
      loop_.runReady();
      const std::size_t last = http_.count() - 1;
      const bool to_a = http_.request(last).url.starts_with("http://a");
      http_.reply(last, to_a ? status : 200, okBody("ok", "m"));
      loop_.runReady();
    }
  };
  sendToA(500);  // a's breaker opens
  loop_.advance(10s);
  sendToA(200);  // the half-open trial succeeds: a closes and starts ramping
  auto shareOfA = [&](int calls) {
    int to_a = 0;
    for (int i = 0; i < calls; ++i) {
      submitModel("m");
      loop_.runReady();
      const std::size_t last = http_.count() - 1;
      to_a += http_.request(last).url.starts_with("http://a") ? 1 : 0;
      http_.reply(last, 200, okBody("ok", "m"));
      loop_.runReady();
    }
    return static_cast<double>(to_a) / calls;
  };
  EXPECT_LT(shareOfA(1000), 0.10) << "at 10 % of its share, not the even half";
  loop_.advance(15s);
  const double midway = shareOfA(1000);
  EXPECT_GT(midway, 0.18);
  EXPECT_LT(midway, 0.32) << "half way through the ramp: about half its share";
  loop_.advance(15s);
  EXPECT_NEAR(shareOfA(1000), 0.5, 0.01) << "ramp over: round robin alternates again";
}

// A ramping endpoint held back by the draw still serves when its full-share peer is
// refused: the call goes now, instead of waiting and drawing again.
TEST_F(BalancerTest, ARampingEndpointServesWhenItsPeerCannot) {
  make(R"(
strategy: round_robin
max_attempts: 1
circuit_breaker: {consecutive_failures: 1, cooldown: 10, ramp: 30}
endpoints:
  - {name: a, url: "http://a/v1", models: [m]}
  - {name: b, url: "http://b/v1", models: [m], limits: {m: {rpm: 1}}}
)");
  auto callAnswering = [&](int status_for_a) {
    submitModel("m");
    loop_.runReady();
    const std::size_t last = http_.count() - 1;
    const bool to_a = http_.request(last).url.starts_with("http://a");
    http_.reply(last, to_a ? status_for_a : 200, okBody("ok", "m"));
    loop_.runReady();
    return to_a;
  };
  ASSERT_TRUE(callAnswering(500));   // a fails: its breaker opens
  ASSERT_FALSE(callAnswering(200));  // b takes its one request of the minute
  loop_.advance(10s);
  ASSERT_TRUE(callAnswering(200));  // a's trial succeeds: a ramps back from 10 %
  for (int i = 0; i < 20; ++i) {
    const std::size_t before = http_.count();
    EXPECT_TRUE(callAnswering(200)) << "call " << i;
    EXPECT_EQ(http_.count(), before + 1) << "sent at once, not after a wait";
  }
}

TEST_F(BalancerTest, StatsReportPerEndpointAndModel) {
  make(kTwoModels);
  submitModel("m1");
  loop_.runReady();
  http_.reply(0, 200, okBody("x"));
  loop_.runReady();
  const auto s = balancer_->stats();
  EXPECT_EQ(s["total_requests"], 1);
  EXPECT_EQ(s["total_success"], 1);
  const auto& m = s["endpoints"][0]["models"][0];
  EXPECT_EQ(m["model"], "m1");
  EXPECT_EQ(m["success"], 1);
  EXPECT_EQ(m["tokens_in"], 100);
  EXPECT_EQ(m["breaker"], "closed");
  EXPECT_DOUBLE_EQ(m["success_rate"].get<double>(), 1.0);
  EXPECT_TRUE(m["alerts"].empty());
}

TEST(BalancerConfigTest, MissingSecretNamesTheAliasNotAValue) {
  FakeDispatcher loop;
  FakeTransport http(loop);
  auto cfg =
      ConfigLoader::fromYaml("endpoints: [{name: e, url: 'http://e', api_key_env: NOPE}]").value();
  const auto refused = Balancer::create(cfg, loop, http, ConfigLoader::secretResolver({}, nullptr));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            "endpoints[0].keys[0]: key 'e': no secret found in env var NOPE");
}

TEST(BalancerConfigTest, AConfigBuiltByHandIsValidatedBeforeAnySecretIsLookedFor) {
  FakeDispatcher loop;
  FakeTransport http(loop);
  auto cfg = ConfigLoader::fromYaml(R"(
health_check: {enabled: true, interval: 5}
endpoints: [{name: e, url: 'http://e', api_key_env: NOPE}]
)")
                 .value();
  cfg.max_attempts = 0;
  int lookups = 0;
  const SecretResolver counting = [&lookups](const SecretRef&) -> std::optional<std::string> {
    ++lookups;
    return std::nullopt;
  };
  const auto refused = Balancer::create(cfg, loop, http, counting);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "max_attempts: must be at least 1");
  EXPECT_EQ(lookups, 0) << "an invalid config reads no secret";
  loop.advance(std::chrono::seconds(10));
  EXPECT_EQ(http.count(), 0u) << "nothing was made: no health probe goes out";
  cfg.endpoints.clear();
  EXPECT_EQ(Balancer::create(cfg, loop, http, counting).error().message,
            "endpoints: at least one endpoint is required");
}

}  // namespace
}  // namespace celeriac::balancer
