#include "admission/token_bucket.h"

#include <gtest/gtest.h>

#include "manual_clock.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using celeriac::testing::ManualClock;

class TokenBucketTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  TokenBucket bucket_{600, 1min, clock_.now()};  // 10 tokens per second
};

TEST_F(TokenBucketTest, StartsFullAndRefusesBeyondCapacity) {
  EXPECT_TRUE(bucket_.tryReserve(600, clock_.now()));
  EXPECT_FALSE(bucket_.tryReserve(1, clock_.now()));
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), 0);
}

TEST_F(TokenBucketTest, RefillsContinuouslyAndCapsAtCapacity) {
  ASSERT_TRUE(bucket_.tryReserve(600, clock_.now()));
  clock_.advance(1s);
  EXPECT_NEAR(bucket_.level(clock_.now()), 10, 1e-9);
  clock_.advance(10min);
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), 600);
}

TEST_F(TokenBucketTest, RefusalChangesNothing) {
  ASSERT_TRUE(bucket_.tryReserve(595, clock_.now()));
  EXPECT_FALSE(bucket_.tryReserve(10, clock_.now()));
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), 5);
}

TEST_F(TokenBucketTest, RefundsUnusedReservation) {
  ASSERT_TRUE(bucket_.tryReserve(500, clock_.now()));
  bucket_.reconcile(500, 120.0, clock_.now());
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), 480);
}

TEST_F(TokenBucketTest, ChargesOvershootAsDebt) {
  ASSERT_TRUE(bucket_.tryReserve(500, clock_.now()));
  bucket_.reconcile(500, 700.0, clock_.now());
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), -100);
  EXPECT_FALSE(bucket_.tryReserve(1, clock_.now()));
  // Debt of 100 plus 1 token needed at 10 tokens/s.
  EXPECT_EQ(bucket_.timeUntil(1, clock_.now()), 10100ms);
  clock_.advance(10100ms);
  EXPECT_TRUE(bucket_.tryReserve(1, clock_.now()));
}

TEST_F(TokenBucketTest, UnknownUsageNeverRefunds) {
  ASSERT_TRUE(bucket_.tryReserve(500, clock_.now()));
  bucket_.reconcile(500, std::nullopt, clock_.now());
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), 100);
}

TEST_F(TokenBucketTest, ReleaseGivesBackAnUnsentReservation) {
  ASSERT_TRUE(bucket_.tryReserve(500, clock_.now()));
  bucket_.release(500, clock_.now());
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), 600);
}

TEST_F(TokenBucketTest, OversizedRequestWaitsForAFullBucketThenGoesIntoDebt) {
  ASSERT_TRUE(bucket_.tryReserve(1, clock_.now()));
  EXPECT_FALSE(bucket_.tryReserve(1000, clock_.now()));
  EXPECT_EQ(bucket_.timeUntil(1000, clock_.now()), 100ms);
  clock_.advance(100ms);
  EXPECT_TRUE(bucket_.tryReserve(1000, clock_.now()));
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), -400);
}

TEST_F(TokenBucketTest, TimeUntilIsZeroWhenEnough) {
  EXPECT_EQ(bucket_.timeUntil(100, clock_.now()), 0ns);
}

TEST_F(TokenBucketTest, HeaderSyncOnlyTightens) {
  bucket_.syncFromHeaders(100, std::nullopt, clock_.now());
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), 100);
  bucket_.syncFromHeaders(550, std::nullopt, clock_.now());
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), 100);
}

TEST_F(TokenBucketTest, HeaderSyncWithNothingLeftHoldsRefillUntilProviderReset) {
  bucket_.syncFromHeaders(0, 20s, clock_.now());
  EXPECT_EQ(bucket_.timeUntil(1, clock_.now()), 20100ms);
  clock_.advance(20s);
  EXPECT_DOUBLE_EQ(bucket_.level(clock_.now()), 0);
  clock_.advance(1s);
  EXPECT_NEAR(bucket_.level(clock_.now()), 10, 1e-9);
}

TEST(TokenBucketUnlimitedTest, ZeroCapacityAlwaysAdmits) {
  ManualClock clock;
  TokenBucket bucket(0, 1min, clock.now());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(bucket.tryReserve(1e6, clock.now()));
  EXPECT_EQ(bucket.timeUntil(1e9, clock.now()), 0ns);
}

}  // namespace
}  // namespace celeriac::balancer
