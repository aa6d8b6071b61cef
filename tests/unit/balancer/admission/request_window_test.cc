#include "admission/request_window.h"

#include <gtest/gtest.h>

#include <deque>

#include "admission/admission_control.h"
#include "manual_clock.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using celeriac::testing::ManualClock;

// Counts sends in the 60 s window ending at each send (the maximum over all sliding
// windows is reached by one ending at a send) and remembers the largest count.
class WindowWitness {
 public:
  void record(SteadyTime at) {
    sends_.push_back(at);
    while (sends_.front() + 60s <= at) sends_.pop_front();
    max_ = std::max(max_, sends_.size());
  }
  [[nodiscard]] std::size_t max() const { return max_; }

 private:
  std::deque<SteadyTime> sends_;
  std::size_t max_ = 0;
};

TEST(RequestWindowTest, AdmitsTheLimitThenRefusesUntilTheOldestLeaves) {
  ManualClock clock;
  RequestWindow w(3, 1min);
  EXPECT_TRUE(w.tryAdmit(clock.now()));
  clock.advance(10s);
  EXPECT_TRUE(w.tryAdmit(clock.now()));
  EXPECT_TRUE(w.tryAdmit(clock.now()));
  EXPECT_FALSE(w.tryAdmit(clock.now()));
  EXPECT_EQ(w.remaining(clock.now()), 0);
  EXPECT_EQ(w.availableAt(clock.now()), clock.now() + 50s);
  clock.advance(50s - 1ns);
  EXPECT_FALSE(w.tryAdmit(clock.now()));
  clock.advance(1ns);
  EXPECT_TRUE(w.tryAdmit(clock.now()));
  EXPECT_EQ(w.availableAt(clock.now()), clock.now() + 10s) << "the 10 s sends leave at 70 s";
}

TEST(RequestWindowTest, SteadyOverloadNeverExceedsTheLimitInAnySlidingMinute) {
  ManualClock clock;
  RequestWindow w(60, 1min);
  WindowWitness witness;
  int admitted = 0;
  // 20 offers per second for 10 minutes: 20x the limit.
  for (int i = 0; i < 20 * 600; ++i) {
    if (w.tryAdmit(clock.now())) {
      witness.record(clock.now());
      ++admitted;
    }
    clock.advance(50ms);
  }
  EXPECT_LE(witness.max(), 60u);
  EXPECT_EQ(admitted, 600) << "the full limit is still used, 60 per minute";
}

TEST(RequestWindowTest, BurstsAtWindowEdgesStayWithinTheLimit) {
  ManualClock clock;
  RequestWindow w(60, 1min);
  WindowWitness witness;
  // A token bucket starting full would take 60 at 59.9 s and nearly 60 more just after
  // (its refill); the window takes none until the first burst ages out.
  clock.advance(59'900ms);
  for (int i = 0; i < 100; ++i) {
    if (w.tryAdmit(clock.now())) witness.record(clock.now());
  }
  clock.advance(200ms);
  for (int round = 0; round < 3000; ++round) {
    if (w.tryAdmit(clock.now())) witness.record(clock.now());
    clock.advance(20ms);
  }
  EXPECT_LE(witness.max(), 60u);
}

TEST(RequestWindowTest, ReleaseForgetsTheLatestAdmission) {
  ManualClock clock;
  RequestWindow w(1, 1min);
  ASSERT_TRUE(w.tryAdmit(clock.now()));
  w.release(clock.now(), clock.now());
  EXPECT_TRUE(w.tryAdmit(clock.now()));
}

// Sends at 0 s and 30 s; the one at 0 s is released at 31 s. The window must then hold
// the 30 s send until 90 s: forgetting the newest entry instead would keep 0 s, free a
// slot at 60 s, and let two requests into (30 s, 90 s].
TEST(RequestWindowTest, ReleaseForgetsTheReleasedSendNotTheNewest) {
  ManualClock clock;
  RequestWindow w(2, 1min);
  const SteadyTime first = clock.now();
  ASSERT_TRUE(w.tryAdmit(first));
  clock.advance(30s);
  ASSERT_TRUE(w.tryAdmit(clock.now()));
  clock.advance(1s);
  w.release(first, clock.now());
  ASSERT_TRUE(w.tryAdmit(clock.now()));  // the released slot, at 31 s
  EXPECT_FALSE(w.tryAdmit(clock.now()));
  EXPECT_EQ(w.availableAt(clock.now()), first + 90s);
}

TEST(RequestWindowTest, HeaderBudgetPacesAnUnlimitedWindowUntilTheReset) {
  ManualClock clock;
  RequestWindow w(0, 1min);
  w.syncFromHeaders(2, 20s, clock.now());
  EXPECT_TRUE(w.tryAdmit(clock.now()));
  EXPECT_TRUE(w.tryAdmit(clock.now()));
  EXPECT_FALSE(w.tryAdmit(clock.now())) << "the provider said two were left";
  EXPECT_EQ(w.availableAt(clock.now()), clock.now() + 20s);
  clock.advance(20s);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(w.tryAdmit(clock.now())) << "unlimited again";
}

TEST(RequestWindowTest, HeaderWithoutResetLeavesAnUnlimitedWindowAlone) {
  ManualClock clock;
  RequestWindow w(0, 1min);
  w.syncFromHeaders(0, std::nullopt, clock.now());
  EXPECT_TRUE(w.tryAdmit(clock.now()));
}

TEST(RequestWindowTest, HeaderSyncOnlyTightens) {
  ManualClock clock;
  RequestWindow w(60, 1min);
  w.syncFromHeaders(100, 30s, clock.now());  // "more than our limit": ignored
  EXPECT_EQ(w.remaining(clock.now()), 60);
  w.syncFromHeaders(2, 30s, clock.now());
  EXPECT_EQ(w.remaining(clock.now()), 2);
  EXPECT_TRUE(w.tryAdmit(clock.now()));
  EXPECT_TRUE(w.tryAdmit(clock.now()));
  EXPECT_FALSE(w.tryAdmit(clock.now()));
  EXPECT_EQ(w.availableAt(clock.now()), clock.now() + 30s) << "held until the provider's reset";
  w.syncFromHeaders(5, 10s, clock.now());  // a looser, shorter report cannot loosen it
  EXPECT_EQ(w.availableAt(clock.now()), clock.now() + 30s);
  clock.advance(30s);
  EXPECT_EQ(w.remaining(clock.now()), 58);
}

TEST(RequestWindowTest, HeaderSyncWithoutResetLastsOneRequestInterval) {
  ManualClock clock;
  RequestWindow w(60, 1min);
  w.syncFromHeaders(0, std::nullopt, clock.now());
  EXPECT_EQ(w.availableAt(clock.now()), clock.now() + 1s);
}

// Before the ring grew on demand, this allocated 8 GB up front (one time point per unit
// of limit), for every (key, model) so configured.
TEST(RequestWindowTest, AHugeLimitCostsNothingUntilUsed) {
  ManualClock clock;
  RequestWindow w(1'000'000'000, 1min);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(w.tryAdmit(clock.now()));
  EXPECT_EQ(w.remaining(clock.now()), 1'000'000'000 - 1000);
}

TEST(RequestWindowTest, AGenerousLimitHoldsOnlyAboutOneWindowOfSends) {
  ManualClock clock;
  RequestWindow w(1'000'000'000, 1min);
  for (int i = 0; i < 20 * 600; ++i) {  // 600 a minute for 20 minutes
    ASSERT_TRUE(w.tryAdmit(clock.now()));
    clock.advance(100ms);
  }
  EXPECT_EQ(w.remaining(clock.now()), 1'000'000'000 - 599);  // the oldest just left
  EXPECT_LE(w.heldEntries(), 2u * 600u + 1u) << "not every send since the start";
}

// A release that comes after its send has left the window (here the ring has even
// reused its slot) must not forget a later send that is still in it.
TEST(RequestWindowTest, ReleasingASendThatLeftTheWindowForgetsNothing) {
  ManualClock clock;
  RequestWindow w(2, 1min);
  const SteadyTime first = clock.now();
  ASSERT_TRUE(w.tryAdmit(first));
  clock.advance(61s);
  ASSERT_TRUE(w.tryAdmit(clock.now()));  // t = 61 s
  const SteadyTime second = clock.now();
  clock.advance(1s);
  ASSERT_TRUE(w.tryAdmit(clock.now()));  // t = 62 s: the ring is full again
  clock.advance(1s);
  w.release(first, clock.now());
  EXPECT_FALSE(w.tryAdmit(clock.now())) << "the sends at 61 s and 62 s both still count";
  EXPECT_EQ(w.availableAt(clock.now()), second + 60s);
}

TEST(RequestWindowTest, TheGrowingRingWrapsOnceFull) {
  ManualClock clock;
  RequestWindow w(3, 1min);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(w.tryAdmit(clock.now()));
    clock.advance(10s);
  }
  EXPECT_FALSE(w.tryAdmit(clock.now()));
  EXPECT_EQ(w.availableAt(clock.now()), clock.now() + 30s);  // first send at t=0, now t=30s
  clock.advance(30s);
  ASSERT_TRUE(w.tryAdmit(clock.now()));
  EXPECT_FALSE(w.tryAdmit(clock.now()));
  EXPECT_EQ(w.availableAt(clock.now()), clock.now() + 10s);  // the t=10s send leaves at 70s
}

TEST(RequestWindowTest, ZeroLimitIsUnlimited) {
  ManualClock clock;
  RequestWindow w(0, 1min);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(w.tryAdmit(clock.now()));
}

TEST(AdmissionWindowTest, NoHeadersSteadyOverloadStaysWithinRpmWhileTokensStillReconcile) {
  ManualClock clock;
  AdmissionControl admission;
  admission.configure("k", "m", {60, 1'000'000}, clock.now());
  WindowWitness witness;
  for (int i = 0; i < 10 * 900; ++i) {
    auto d = admission.tryReserve("k", "m", 100, clock.now());
    if (d.reservation) {
      witness.record(clock.now());
      admission.reconcile(*d.reservation, 40.0, clock.now());
    } else {
      EXPECT_EQ(d.verdict, AdmissionVerdict::kRequestsExhausted);
      EXPECT_GT(d.retry_at, clock.now());
      EXPECT_LE(d.retry_at, clock.now() + 60s);
    }
    clock.advance(100ms);
  }
  EXPECT_LE(witness.max(), 60u);
}

TEST(AdmissionWindowTest, RetryAtIsExactlyWhenTheNextAdmissionSucceeds) {
  ManualClock clock;
  AdmissionControl admission;
  admission.configure("k", "m", {5, 0}, clock.now());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(admission.tryReserve("k", "m", 1, clock.now()).reservation);
    clock.advance(7s);
  }
  const auto d = admission.tryReserve("k", "m", 1, clock.now());
  ASSERT_EQ(d.verdict, AdmissionVerdict::kRequestsExhausted);
  EXPECT_EQ(admission.availableAt("k", "m", 1, clock.now()), d.retry_at);
  clock.advance(d.retry_at - clock.now() - 1ns);
  EXPECT_FALSE(admission.tryReserve("k", "m", 1, clock.now()).reservation);
  clock.advance(1ns);
  EXPECT_TRUE(admission.tryReserve("k", "m", 1, clock.now()).reservation);
}

}  // namespace
}  // namespace celeriac::balancer
