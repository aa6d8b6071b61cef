#include <gtest/gtest.h>

#include "health/backoff.h"
#include "health/retry_budget.h"
#include "manual_clock.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using celeriac::testing::ManualClock;

TEST(BackoffTest, CeilingDoublesUpToTheCap) {
  Backoff b({2s, 10s}, 1);
  EXPECT_EQ(b.ceiling(0), 2s);
  EXPECT_EQ(b.ceiling(1), 4s);
  EXPECT_EQ(b.ceiling(2), 8s);
  EXPECT_EQ(b.ceiling(3), 10s);
  EXPECT_EQ(b.ceiling(100), 10s);
}

TEST(BackoffTest, FullJitterStaysWithinZeroAndCeilingAndSpreads) {
  Backoff b({100ms, 10s}, 99);
  std::chrono::milliseconds lo = 1h, hi = 0ms;
  for (int i = 0; i < 2000; ++i) {
    const auto d = b.delay(2);
    ASSERT_GE(d, 0ms);
    ASSERT_LE(d, 400ms);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, 40ms);
  EXPECT_GT(hi, 360ms);
}

TEST(BackoffTest, SameSeedSameDelays) {
  Backoff a({1s, 10s}, 5), b({1s, 10s}, 5);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.delay(i), b.delay(i));
}

TEST(RetryBudgetTest, AllowsTheFloorWithNoTraffic) {
  ManualClock clock;
  RetryBudget budget({0.2, 3, 10});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(budget.canRetry(clock.now()));
    budget.recordRetry(clock.now());
  }
  EXPECT_FALSE(budget.canRetry(clock.now()));
}

TEST(RetryBudgetTest, RetriesStayWithinTwentyPercentOfRequests) {
  ManualClock clock;
  RetryBudget budget({0.2, 0, 10});
  for (int i = 0; i < 100; ++i) budget.recordRequest(clock.now());
  int retries = 0;
  while (budget.canRetry(clock.now())) {
    budget.recordRetry(clock.now());
    ++retries;
  }
  EXPECT_EQ(retries, 20);
}

TEST(RetryBudgetTest, BudgetRefillsAsTheWindowSlides) {
  ManualClock clock;
  RetryBudget budget({0.2, 0, 10});
  for (int i = 0; i < 50; ++i) budget.recordRequest(clock.now());
  for (int i = 0; i < 10; ++i) budget.recordRetry(clock.now());
  EXPECT_FALSE(budget.canRetry(clock.now()));
  clock.advance(11s);
  EXPECT_EQ(budget.retriesInWindow(clock.now()), 0);
  for (int i = 0; i < 10; ++i) budget.recordRequest(clock.now());
  EXPECT_TRUE(budget.canRetry(clock.now()));
}

}  // namespace
}  // namespace celeriac::balancer
