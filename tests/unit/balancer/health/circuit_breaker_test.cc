#include "health/circuit_breaker.h"

#include <gtest/gtest.h>

#include "manual_clock.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using celeriac::testing::ManualClock;

CircuitBreakerOptions seedOptions() {
  CircuitBreakerOptions o;
  o.consecutive_failures = 3;
  o.cooldown = 60s;
  o.min_requests = 10;
  o.error_rate = 0.5;
  o.window = 30s;
  o.ramp = 10s;
  return o;
}

class CircuitBreakerTest : public ::testing::Test {
 protected:
  void fail(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
      breaker_.onFailure(clock_.now());
    }
  }
  ManualClock clock_;
  CircuitBreaker breaker_{seedOptions()};
};

TEST_F(CircuitBreakerTest, StaysClosedBelowConsecutiveFailureThreshold) {
  fail(2);
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kClosed);
  ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
  breaker_.onSuccess(clock_.now());
  fail(2);
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kClosed);
}

TEST_F(CircuitBreakerTest, OpensAfterConsecutiveFailuresAndRefuses) {
  fail(3);
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kOpen);
  EXPECT_FALSE(breaker_.tryAcquire(clock_.now()));
  EXPECT_EQ(breaker_.retryAt(clock_.now()), clock_.now() + 60s);
}

TEST_F(CircuitBreakerTest, OpensOnErrorRateOverWindowWithMinimumRequests) {
  // Alternate success/failure: never 3 in a row, but 50 % errors.
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
    if (i % 2 == 0) {
      breaker_.onFailure(clock_.now());
    } else {
      breaker_.onSuccess(clock_.now());
    }
  }
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kClosed);  // 9 < min_requests
  ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
  breaker_.onFailure(clock_.now());  // 10 requests, 6 failures
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kOpen);
}

TEST_F(CircuitBreakerTest, OldFailuresLeaveTheWindow) {
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
    if (i % 2 == 0) {
      breaker_.onFailure(clock_.now());
    } else {
      breaker_.onSuccess(clock_.now());
    }
  }
  clock_.advance(60s);
  ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
  breaker_.onSuccess(clock_.now());
  ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
  breaker_.onFailure(clock_.now());
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kClosed);
}

TEST_F(CircuitBreakerTest, HalfOpenAdmitsExactlyOneTrial) {
  fail(3);
  clock_.advance(60s);
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kHalfOpen);
  EXPECT_TRUE(breaker_.canAttempt(clock_.now()));
  EXPECT_TRUE(breaker_.tryAcquire(clock_.now()));
  EXPECT_FALSE(breaker_.canAttempt(clock_.now()));
  EXPECT_FALSE(breaker_.tryAcquire(clock_.now()));
  EXPECT_FALSE(breaker_.tryAcquire(clock_.now()));
}

TEST_F(CircuitBreakerTest, SuccessfulTrialClosesAndRampsLoadBack) {
  fail(3);
  clock_.advance(60s);
  ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
  breaker_.onSuccess(clock_.now());
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kClosed);
  EXPECT_TRUE(breaker_.tryAcquire(clock_.now()));
  EXPECT_DOUBLE_EQ(breaker_.loadFactor(clock_.now()), 0.1);
  clock_.advance(5s);
  EXPECT_DOUBLE_EQ(breaker_.loadFactor(clock_.now()), 0.5);
  clock_.advance(5s);
  EXPECT_DOUBLE_EQ(breaker_.loadFactor(clock_.now()), 1.0);
}

TEST_F(CircuitBreakerTest, FailedTrialReopensWithLongerCooldown) {
  fail(3);
  clock_.advance(60s);
  ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
  breaker_.onFailure(clock_.now());
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kOpen);
  EXPECT_EQ(breaker_.retryAt(clock_.now()), clock_.now() + 120s);
  EXPECT_EQ(breaker_.opens(), 2);
}

TEST_F(CircuitBreakerTest, AbandonedTrialFreesTheSlotWithoutJudging) {
  fail(3);
  clock_.advance(60s);
  ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));
  breaker_.onAbandon(clock_.now());
  EXPECT_EQ(breaker_.state(clock_.now()), BreakerState::kHalfOpen);
  EXPECT_TRUE(breaker_.tryAcquire(clock_.now()));
}

TEST_F(CircuitBreakerTest, LateFailureWhileOpenNeverShortensTheDeadline) {
  ASSERT_TRUE(breaker_.tryAcquire(clock_.now()));  // a slow call sent before the open
  fail(3);
  const SteadyTime deadline = breaker_.retryAt(clock_.now());
  clock_.advance(10s);
  breaker_.onFailure(clock_.now());  // the slow call fails while open
  EXPECT_EQ(breaker_.retryAt(clock_.now()), deadline);
}

TEST_F(CircuitBreakerTest, CooldownGrowthIsCapped) {
  CircuitBreakerOptions o = seedOptions();
  o.max_cooldown = 100s;
  CircuitBreaker b(o);
  for (int round = 0; round < 5; ++round) {
    while (b.state(clock_.now()) != BreakerState::kOpen) {
      ASSERT_TRUE(b.tryAcquire(clock_.now()));
      b.onFailure(clock_.now());
    }
    EXPECT_LE(b.retryAt(clock_.now()) - clock_.now(), 100s);
    clock_.advance(b.retryAt(clock_.now()) - clock_.now());
  }
}

}  // namespace
}  // namespace celeriac::balancer
