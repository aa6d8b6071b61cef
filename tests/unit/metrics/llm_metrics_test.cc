// LlmMetrics: the balancer's celeriac_llm_* metrics, fed by a real Balancer's attempt
// observer on a fake loop and transport, and by its stats(). No sockets, no sleeping.

#include "worker/metrics/llm_metrics.h"

#include <gtest/gtest.h>

#include "registry_reader.h"
#include "tests/unit/balancer/core/balancer_fixture.h"

namespace celeriac::worker::metrics {
namespace {

using test::render;
using test::sample;

constexpr const char* kConfig = R"(
endpoints:
  - name: e
    url: "http://e/v1"
    models: [m]
    keys: [{alias: ka, env: KEY_A}]
    limits: {m: {rpm: 60, tpm: 100000}}
pricing:
  m: {input: 2, output: 8}
)";

class LlmMetricsTest : public balancer::BalancerTest {
 protected:
  void SetUp() override {
    make(kConfig);
    metrics_.attach(*balancer_);
  }
  void TearDown() override { metrics_.detach(); }

  prometheus::Registry registry_;
  LlmMetrics metrics_{registry_};
};

TEST_F(LlmMetricsTest, OutcomeLabelsAreAClosedSet) {
  EXPECT_EQ(LlmMetrics::outcomeLabel(balancer::FailureClass::kNone), "success");
  EXPECT_EQ(LlmMetrics::outcomeLabel(balancer::FailureClass::kRateLimited), "rate_limited");
  EXPECT_EQ(LlmMetrics::outcomeLabel(balancer::FailureClass::kServerError), "server_error");
}

TEST_F(LlmMetricsTest, ASuccessfulAttemptCountsRequestLatencyTokensAndCost) {
  submitModel("m");
  loop_.runReady();
  loop_.advance(std::chrono::milliseconds(300));
  http_.reply(0, 200, balancer::okBody("hi", "m"));  // 100 input + 50 output tokens
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(sample(registry_, "celeriac_llm_requests_total",
                   {{"endpoint", "e"}, {"model", "m"}, {"key", "ka"}, {"outcome", "success"}}),
            1);
  EXPECT_EQ(sample(registry_, "celeriac_llm_request_duration_seconds",
                   {{"endpoint", "e"}, {"model", "m"}}),
            1);
  EXPECT_EQ(sample(registry_, "celeriac_llm_tokens_total",
                   {{"endpoint", "e"}, {"model", "m"}, {"type", "input"}}),
            100);
  EXPECT_EQ(sample(registry_, "celeriac_llm_tokens_total",
                   {{"endpoint", "e"}, {"model", "m"}, {"type", "output"}}),
            50);
  // 100 * $2/Mtok + 50 * $8/Mtok
  EXPECT_DOUBLE_EQ(
      *sample(registry_, "celeriac_llm_cost_usd_total", {{"endpoint", "e"}, {"model", "m"}}),
      (100 * 2.0 + 50 * 8.0) / 1e6);
}

TEST_F(LlmMetricsTest, EveryAttemptObservesTheBalancersOverhead) {
  loop_.manualClock().tickOnEveryRead(std::chrono::microseconds(1));
  submitModel("m");
  loop_.runReady();
  loop_.advance(std::chrono::seconds(1));  // the provider's wait: not overhead
  http_.reply(0, 200, balancer::okBody("hi", "m"));
  loop_.runReady();
  EXPECT_EQ(sample(registry_, "celeriac_llm_balancer_overhead_seconds", {}), 1);
  const std::string text = render(registry_);
  // The one observation is microseconds: in the 1 ms bucket, which has it, and above
  // the 5 us one only if the balancer read its clock more than five times.
  EXPECT_NE(text.find("celeriac_llm_balancer_overhead_seconds_bucket{le=\"0.001\"} 1"),
            std::string::npos)
      << text;
}

TEST_F(LlmMetricsTest, AFailedAttemptIsCountedByItsFailureClassAndA429ByItsPause) {
  submitModel("m");
  loop_.runReady();
  http_.reply(0, 429, R"({"error":{"message":"slow down"}})", {{"retry-after", "2"}});
  loop_.runReady();
  EXPECT_EQ(sample(registry_, "celeriac_llm_requests_total",
                   {{"endpoint", "e"}, {"model", "m"}, {"key", "ka"}, {"outcome", "rate_limited"}}),
            1);
  EXPECT_EQ(sample(registry_, "celeriac_llm_header_pauses_total",
                   {{"endpoint", "e"}, {"model", "m"}, {"key", "ka"}}),
            1);
  // The provider's message is never a label value.
  EXPECT_EQ(render(registry_).find("slow down"), std::string::npos);
}

TEST_F(LlmMetricsTest, RefreshReadsBucketsAndBreakerFromStats) {
  metrics_.refresh();
  EXPECT_EQ(sample(registry_, "celeriac_llm_breaker_state", {{"endpoint", "e"}, {"model", "m"}}),
            std::nullopt);  // no target used yet: nothing to report
  callAndAnswer("m");
  metrics_.refresh();
  EXPECT_EQ(sample(registry_, "celeriac_llm_breaker_state", {{"endpoint", "e"}, {"model", "m"}}),
            0);
  EXPECT_EQ(sample(registry_, "celeriac_llm_bucket_capacity",
                   {{"endpoint", "e"}, {"model", "m"}, {"key", "ka"}, {"bucket", "rpm"}}),
            60);
  const auto level = sample(registry_, "celeriac_llm_bucket_level",
                            {{"endpoint", "e"}, {"model", "m"}, {"key", "ka"}, {"bucket", "rpm"}});
  ASSERT_TRUE(level.has_value());
  EXPECT_LT(*level, 60);  // one request taken
  EXPECT_EQ(sample(registry_, "celeriac_llm_calls_waiting", {}), 0);
  EXPECT_EQ(sample(registry_, "celeriac_llm_calls_in_flight", {}), 0);
}

TEST_F(LlmMetricsTest, NoKeySecretInTheExposition) {
  callAndAnswer("m");
  metrics_.refresh();
  EXPECT_EQ(render(registry_).find("sk-a"), std::string::npos);
}

TEST_F(LlmMetricsTest, DetachedMetricsCountNothingMore) {
  metrics_.detach();
  callAndAnswer("m");
  EXPECT_EQ(sample(registry_, "celeriac_llm_requests_total",
                   {{"endpoint", "e"}, {"model", "m"}, {"key", "ka"}, {"outcome", "success"}}),
            std::nullopt);
}

}  // namespace
}  // namespace celeriac::worker::metrics
