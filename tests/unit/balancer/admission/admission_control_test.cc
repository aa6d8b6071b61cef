#include "admission/admission_control.h"

#include <gtest/gtest.h>

#include "manual_clock.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using celeriac::testing::ManualClock;

class AdmissionControlTest : public ::testing::Test {
 protected:
  void SetUp() override { admission_.configure("key-a", "gpt-4.1", {60, 6000}, clock_.now()); }
  ManualClock clock_;
  AdmissionControl admission_;
};

TEST_F(AdmissionControlTest, ReservesRequestAndTokensTogether) {
  auto d = admission_.tryReserve("key-a", "gpt-4.1", 1000, clock_.now());
  ASSERT_EQ(d.verdict, AdmissionVerdict::kAdmitted);
  ASSERT_TRUE(d.reservation);
  const auto snap = admission_.snapshot("key-a", "gpt-4.1", clock_.now());
  EXPECT_DOUBLE_EQ(snap.requests_level, 59);
  EXPECT_DOUBLE_EQ(snap.tokens_level, 5000);
}

TEST_F(AdmissionControlTest, TokenRefusalDoesNotLeakARequestToken) {
  ASSERT_TRUE(admission_.tryReserve("key-a", "gpt-4.1", 6000, clock_.now()).reservation);
  const auto d = admission_.tryReserve("key-a", "gpt-4.1", 100, clock_.now());
  EXPECT_EQ(d.verdict, AdmissionVerdict::kTokensExhausted);
  EXPECT_EQ(d.retry_at, clock_.now() + 1s);  // 100 tokens at 100 tokens/s
  EXPECT_DOUBLE_EQ(admission_.snapshot("key-a", "gpt-4.1", clock_.now()).requests_level, 59);
}

TEST_F(AdmissionControlTest, RequestRefusalReportsWhenTheOldestSendLeavesTheWindow) {
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(admission_.tryReserve("key-a", "gpt-4.1", 1, clock_.now()).reservation);
  }
  const auto d = admission_.tryReserve("key-a", "gpt-4.1", 1, clock_.now());
  EXPECT_EQ(d.verdict, AdmissionVerdict::kRequestsExhausted);
  // A sliding window: the first send must leave it, a whole period after it went out.
  EXPECT_EQ(d.retry_at, clock_.now() + 60s);
}

TEST_F(AdmissionControlTest, ReleaseReturnsBoth) {
  auto d = admission_.tryReserve("key-a", "gpt-4.1", 1000, clock_.now());
  admission_.release(*d.reservation, clock_.now());
  const auto snap = admission_.snapshot("key-a", "gpt-4.1", clock_.now());
  EXPECT_DOUBLE_EQ(snap.requests_level, 60);
  EXPECT_DOUBLE_EQ(snap.tokens_level, 6000);
}

TEST_F(AdmissionControlTest, ReconcileRefundsTokensButNotTheRequest) {
  auto d = admission_.tryReserve("key-a", "gpt-4.1", 1000, clock_.now());
  admission_.reconcile(*d.reservation, 300.0, clock_.now());
  const auto snap = admission_.snapshot("key-a", "gpt-4.1", clock_.now());
  EXPECT_DOUBLE_EQ(snap.requests_level, 59);
  EXPECT_DOUBLE_EQ(snap.tokens_level, 5700);
}

TEST_F(AdmissionControlTest, PauseKeepsTheLatestDeadline) {
  admission_.pauseUntil("key-a", "gpt-4.1", clock_.now() + 30s);
  admission_.pauseUntil("key-a", "gpt-4.1", clock_.now() + 5s);
  auto d = admission_.tryReserve("key-a", "gpt-4.1", 1, clock_.now());
  EXPECT_EQ(d.verdict, AdmissionVerdict::kPaused);
  EXPECT_EQ(d.retry_at, clock_.now() + 30s);
  clock_.advance(29s);
  EXPECT_EQ(admission_.tryReserve("key-a", "gpt-4.1", 1, clock_.now()).verdict,
            AdmissionVerdict::kPaused);
  clock_.advance(1s);
  EXPECT_EQ(admission_.tryReserve("key-a", "gpt-4.1", 1, clock_.now()).verdict,
            AdmissionVerdict::kAdmitted);
}

TEST_F(AdmissionControlTest, PauseIsPerPoolAndModel) {
  admission_.pauseUntil("key-a", "gpt-4.1", clock_.now() + 30s);
  EXPECT_EQ(admission_.tryReserve("key-b", "gpt-4.1", 1, clock_.now()).verdict,
            AdmissionVerdict::kAdmitted);
  EXPECT_EQ(admission_.tryReserve("key-a", "gpt-4o", 1, clock_.now()).verdict,
            AdmissionVerdict::kAdmitted);
}

TEST_F(AdmissionControlTest, HeaderSyncTightensBothBuckets) {
  RateLimitInfo info;
  info.remaining_requests = 3;
  info.remaining_tokens = 200;
  admission_.syncFromHeaders("key-a", "gpt-4.1", info, clock_.now());
  const auto snap = admission_.snapshot("key-a", "gpt-4.1", clock_.now());
  EXPECT_DOUBLE_EQ(snap.requests_level, 3);
  EXPECT_DOUBLE_EQ(snap.tokens_level, 200);
  EXPECT_EQ(admission_.tryReserve("key-a", "gpt-4.1", 500, clock_.now()).verdict,
            AdmissionVerdict::kTokensExhausted);
}

TEST_F(AdmissionControlTest, UnconfiguredPairIsUnlimited) {
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(admission_.tryReserve("other", "m", 1e6, clock_.now()).reservation);
  }
}

}  // namespace
}  // namespace celeriac::balancer
