// Balancer-level pacing and containment: quota groups, the retry budget, and the single
// half-open trial under concurrent calls.
#include <gtest/gtest.h>

#include "balancer_fixture.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;

// Two endpoints (say, two regions of one provider) whose keys draw on one upstream
// pool: the group's RPM is shared, so the second endpoint cannot add to it.
TEST_F(BalancerTest, KeysInOneQuotaGroupArePacedTogether) {
  make(R"(
timeout: 120
max_queue_wait: 90
endpoints:
  - {name: east, url: "http://east/v1", models: [m], api_key_env: KEY_A, quota_group: org,
     limits: {m: {rpm: 3}}}
  - {name: west, url: "http://west/v1", models: [m], api_key_env: KEY_B, quota_group: org,
     limits: {m: {rpm: 3}}}
)");
  for (int i = 0; i < 6; ++i) submitModel("m");
  loop_.runReady();
  EXPECT_EQ(http_.count(), 3u) << "one group, one window of 3, whichever endpoint sends";
  for (std::size_t i = 0; i < http_.count(); ++i) http_.reply(i, 200, okBody("ok", "m"));
  loop_.runReady();
  loop_.advance(60s);
  EXPECT_EQ(http_.count(), 6u) << "the rest when the window moves on";
}

// A 429 on one key of a quota group pauses the whole group: its keys share the pool.
TEST_F(BalancerTest, ARateLimitPausesEveryKeyOfItsQuotaGroup) {
  make(R"(
endpoints:
  - name: e
    url: "http://e/v1"
    models: [m]
    quota_group: org
    keys: [{alias: ka, env: KEY_A}, {alias: kb, env: KEY_B}]
)");
  submitModel("m", 5s);
  loop_.runReady();
  http_.reply(0, 429, "", {{"retry-after", "30"}});
  loop_.runReady();
  EXPECT_EQ(http_.count(), 1u) << "the other key is in the same paused pool";
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kAllUnavailable);
  ASSERT_TRUE(results_[0].failure().retry_at);
  EXPECT_EQ(*results_[0].failure().retry_at, loop_.clock().now() + 30s);
}

// Retries may be at most ~ratio of recent first attempts: an outage does not turn every
// call into max_attempts requests.
TEST_F(BalancerTest, TheRetryBudgetStopsRetriesOnceSpent) {
  make(R"(
max_attempts: 5
backoff: {base: 0.001, cap: 0.001}
retry_budget: {ratio: 0.1, min_retries: 2, window: 10}
circuit_breaker: {consecutive_failures: 1000}
endpoints:
  - {name: a, url: "http://a/v1", models: [m]}
)");
  for (int i = 0; i < 10; ++i) {
    submitModel("m", 3s);
    loop_.runReady();
  }
  ASSERT_EQ(http_.count(), 10u);
  // Every first attempt fails; without a budget each call would retry up to 4 times.
  std::size_t answered = 0;
  for (int round = 0; round < 60 && results_.size() < 10; ++round) {
    while (answered < http_.count()) http_.reply(answered++, 503, "");
    loop_.runReady();
    loop_.advance(100ms);
  }
  ASSERT_EQ(results_.size(), 10u);
  const std::size_t retries = http_.count() - 10;
  EXPECT_LE(retries, 3u) << "min_retries 2 plus 10 % of 10 first attempts";
  EXPECT_GE(retries, 2u);
  int budget_skips = 0;
  for (const auto& r : results_) {
    budget_skips += traceHas(r, TraceEntry::Kind::kSkipped, "retry_budget") ? 1 : 0;
  }
  EXPECT_GT(budget_skips, 0);
}

// After the cooldown exactly one call probes the endpoint; the others keep away until
// it answers, then all go.
TEST_F(BalancerTest, OnlyOneConcurrentCallIsTheHalfOpenTrial) {
  make(R"(
timeout: 120
max_queue_wait: 90
max_attempts: 1
circuit_breaker: {consecutive_failures: 1, cooldown: 10, ramp: 0.001}
endpoints:
  - {name: a, url: "http://a/v1", models: [m]}
)");
  submitModel("m");
  loop_.runReady();
  http_.reply(0, 500, "");
  loop_.runReady();  // the breaker opens
  ASSERT_EQ(results_.size(), 1u);
  loop_.advance(10s);
  for (int i = 0; i < 5; ++i) submitModel("m");
  loop_.runReady();
  EXPECT_EQ(http_.count(), 2u) << "one trial, not five";
  http_.reply(1, 200, okBody("ok", "m"));
  loop_.runReady();
  loop_.advance(1s);  // the waiters look again
  EXPECT_EQ(http_.count(), 6u) << "closed: the four waiting calls go";
}

}  // namespace
}  // namespace celeriac::balancer
