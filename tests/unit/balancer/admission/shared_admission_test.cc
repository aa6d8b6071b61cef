// SharedAdmission on its own: what it asks the store, what each answer lets the call do,
// what the answers teach later checks, and the pushes of sends made on the local share.
// A FakeSharedBucketStore answers by hand; time is the FakeDispatcher's ManualClock.
// (Balancer-level behaviour, keys and traces: core/balancer_shared*_test.cc.)
#include "admission/shared_admission.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <vector>

#include "core/fake_shared_bucket_store.h"
#include "fake_loop.h"

namespace celeriac::balancer {
namespace {

using celeriac::testing::FakeDispatcher;
using celeriac::testing::FakeSharedBucketStore;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Status = SharedReserveResult::Status;

constexpr std::string_view kPool = "team";
constexpr std::string_view kModel = "m";

class SharedAdmissionTest : public ::testing::Test {
 protected:
  SharedAdmissionTest() {
    // rpm 6 and tpm 9000 over three replicas: a local share of 2 and 3000.
    shared_->configure(kPool, kModel, {6, 9000}, 3, now());
  }
  SteadyTime now() const { return loop_.clock().now(); }
  AdmissionControl::Entry& pair() { return local_.entry(kPool, kModel, now()); }
  // Asks for 100 tokens; the answer lands in `answers_`.
  std::uint64_t reserve(SteadyTime deadline = SteadyTime::max()) {
    return shared_->reserve(kPool, kModel, 100, deadline, [this](SharedAdmission::Answer a) {
      answers_.push_back(std::move(a));
    });
  }
  // A reserve the store answers `status`; returns its answer.
  SharedAdmission::Answer reserveAnswered(Status status, milliseconds retry_after = {},
                                          std::string grant = {}) {
    reserve();
    store_.answer(store_.reserves() - 1, status, retry_after, std::move(grant));
    loop_.runReady();
    EXPECT_FALSE(answers_.empty());
    return answers_.empty() ? SharedAdmission::Answer{} : answers_.back();
  }
  nlohmann::json stats() const { return shared_->stats(1); }

  FakeDispatcher loop_;
  FakeSharedBucketStore store_{loop_};
  AdmissionControl local_;
  std::optional<SharedAdmission> shared_{std::in_place, &store_, loop_, local_};
  std::vector<SharedAdmission::Answer> answers_;
};

TEST_F(SharedAdmissionTest, AsksTheStoreForTheFullLimitsOfThePairAndItsPause) {
  EXPECT_TRUE(shared_->uses(kPool, kModel));
  EXPECT_FALSE(shared_->uses(kPool, "other"));
  reserve();
  ASSERT_EQ(store_.reserves(), 1u);
  const auto& specs = store_.reserved(0);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].key, sharedBucketTag(kPool, kModel) + ":rpmw");
  EXPECT_EQ(specs[0].kind, SharedBucketSpec::Kind::kSlidingWindow);
  EXPECT_EQ(specs[0].capacity, 6);  // the full limit, not this replica's share
  EXPECT_EQ(specs[0].amount, 1);
  EXPECT_EQ(specs[0].period, seconds(61));  // the minute and its guard
  EXPECT_EQ(specs[1].key, sharedBucketTag(kPool, kModel) + ":tpm");
  EXPECT_EQ(specs[1].capacity, 9000);
  EXPECT_EQ(specs[1].amount, 100);
  EXPECT_EQ(specs[2].kind, SharedBucketSpec::Kind::kPause);
  EXPECT_EQ(specs[2].amount, 0);  // only honoured, not set
  EXPECT_TRUE(answers_.empty()) << "answers come on a later turn, never inside reserve()";
}

TEST_F(SharedAdmissionTest, WithoutAStoreNoPairGoesThroughIt) {
  shared_.emplace(nullptr, loop_, local_);
  shared_->configure(kPool, kModel, {6, 9000}, 3, now());
  EXPECT_FALSE(shared_->uses(kPool, kModel));
  EXPECT_EQ(stats()["fallback"], true);
  EXPECT_EQ(stats()["store"], false);
}

TEST_F(SharedAdmissionTest, AGrantComesBackAsTheStoresReservationNamingItsEntries) {
  const SharedAdmission::Answer a = reserveAnswered(Status::kReserved, {}, "g1");
  ASSERT_TRUE(a.reservation);
  EXPECT_TRUE(a.remote);
  EXPECT_TRUE(a.refusal.empty());
  EXPECT_EQ(a.reservation->pool, kPool);
  EXPECT_EQ(a.reservation->tokens, 100);
  EXPECT_EQ(a.reservation->shared_grant, "g1");
  EXPECT_EQ(stats()["reserved"], 1);
  EXPECT_EQ(stats()["reserving"], 0);

  shared_->refund(*a.reservation);
  ASSERT_EQ(store_.adjusts().size(), 1u);
  const auto& refund = store_.adjusts()[0];
  ASSERT_EQ(refund.size(), 2u);
  EXPECT_EQ(refund[0].amount, -1);
  EXPECT_EQ(refund[0].grant, "g1");  // removes exactly its own window entry
  EXPECT_EQ(refund[1].amount, -100);
}

TEST_F(SharedAdmissionTest, ReconcilingTakesOrGivesBackOnlyTheTokenDifference) {
  const SharedAdmission::Answer a = reserveAnswered(Status::kReserved, {}, "g1");
  ASSERT_TRUE(a.reservation);
  shared_->reconcile(*a.reservation, 160);
  ASSERT_EQ(store_.adjusts().size(), 1u);
  ASSERT_EQ(store_.adjusts()[0].size(), 1u);  // the request stays counted
  EXPECT_EQ(store_.adjusts()[0][0].key, sharedBucketTag(kPool, kModel) + ":tpm");
  EXPECT_EQ(store_.adjusts()[0][0].amount, 60);
  shared_->reconcile(*a.reservation, 40);
  ASSERT_EQ(store_.adjusts().size(), 2u);
  EXPECT_EQ(store_.adjusts()[1][0].amount, -60);
  shared_->reconcile(*a.reservation, 100);
  EXPECT_EQ(store_.adjusts().size(), 2u) << "nothing to settle: no adjust";
}

TEST_F(SharedAdmissionTest, ARefusalHoldsThePairUntilTheStoresRetryAfter) {
  const SharedAdmission::Answer a = reserveAnswered(Status::kRefused, milliseconds(1500));
  EXPECT_FALSE(a.reservation);
  EXPECT_EQ(a.refusal, "shared_exhausted");
  const SharedAdmission::Check held = shared_->check(kPool, kModel, pair(), 100, now());
  EXPECT_EQ(held.refusal, "shared_exhausted");
  EXPECT_EQ(held.retry_at, now() + milliseconds(1500));
  loop_.advance(milliseconds(1500));
  EXPECT_TRUE(shared_->check(kPool, kModel, pair(), 100, now()).ok());
}

TEST_F(SharedAdmissionTest, OfTwoRefusalsTheLaterRetryHolds) {
  reserveAnswered(Status::kRefused, seconds(5));
  reserveAnswered(Status::kRefused, seconds(1));
  EXPECT_EQ(shared_->check(kPool, kModel, pair(), 100, now()).retry_at, now() + seconds(5));
}

TEST_F(SharedAdmissionTest, ALocalPauseHoldsASharedKeyAndSharePauseTellsTheStore) {
  local_.pauseUntil(kPool, kModel, now() + seconds(7));
  const SharedAdmission::Check paused = shared_->check(kPool, kModel, pair(), 100, now());
  EXPECT_EQ(paused.refusal, "key_paused");
  EXPECT_EQ(paused.retry_at, now() + seconds(7));

  shared_->sharePause(kPool, kModel, seconds(0));
  EXPECT_TRUE(store_.adjusts().empty()) << "no pause, nothing to tell";
  shared_->sharePause(kPool, kModel, seconds(7));
  ASSERT_EQ(store_.adjusts().size(), 1u);
  EXPECT_EQ(store_.adjusts()[0][0].kind, SharedBucketSpec::Kind::kPause);
  EXPECT_EQ(store_.adjusts()[0][0].amount, 7000);
}

TEST_F(SharedAdmissionTest, ASecondOutageAfterTheStoreCameBackHoldsAgain) {
  reserveAnswered(Status::kUnavailable);
  loop_.advance(seconds(61));
  reserveAnswered(Status::kReserved, {}, "g1");  // back
  EXPECT_TRUE(shared_->check(kPool, kModel, pair(), 100, now()).ok());
  loop_.advance(seconds(10));
  const SharedAdmission::Answer a = reserveAnswered(Status::kUnavailable);
  EXPECT_EQ(a.refusal, "shared_fallback_hold");
  const SharedAdmission::Check held = shared_->check(kPool, kModel, pair(), 100, now());
  EXPECT_EQ(held.refusal, "shared_fallback_hold");
  EXPECT_EQ(held.retry_at, now() + seconds(61));
}

TEST_F(SharedAdmissionTest, AStoreGoneAwayHoldsSharedKeysForAWindowThenGrantsTheLocalShare) {
  const SteadyTime gone = now();
  SharedAdmission::Answer a = reserveAnswered(Status::kUnavailable);
  EXPECT_FALSE(a.reservation);
  EXPECT_EQ(a.refusal, "shared_fallback_hold");
  const SharedAdmission::Check held = shared_->check(kPool, kModel, pair(), 100, now());
  EXPECT_EQ(held.refusal, "shared_fallback_hold");
  EXPECT_EQ(held.retry_at, gone + seconds(61));
  EXPECT_EQ(stats()["fallback"], true);

  loop_.advance(seconds(61));
  // The local share is 2 requests a minute: two grants, then its refusal.
  for (int n = 0; n < 2; ++n) {
    EXPECT_TRUE(shared_->check(kPool, kModel, pair(), 100, now()).ok());
    a = reserveAnswered(Status::kUnavailable);
    ASSERT_TRUE(a.reservation) << n;
    EXPECT_FALSE(a.remote);
    shared_->sentOnLocalShare(*a.reservation, now());
  }
  EXPECT_EQ(shared_->check(kPool, kModel, pair(), 100, now()).refusal, "rpm_exhausted");
  a = reserveAnswered(Status::kUnavailable);
  EXPECT_FALSE(a.reservation);
  EXPECT_EQ(a.refusal, "rpm_exhausted");
  EXPECT_EQ(stats()["fallbacks"], 4);
}

TEST_F(SharedAdmissionTest, AGrantWithinTheHoldIsRefundedAndWaits) {
  reserveAnswered(Status::kUnavailable);
  loop_.advance(seconds(10));
  const SharedAdmission::Answer a = reserveAnswered(Status::kReserved, {}, "g2");
  EXPECT_FALSE(a.reservation);
  EXPECT_EQ(a.refusal, "shared_fallback_hold");
  ASSERT_EQ(store_.adjusts().size(), 1u);
  EXPECT_EQ(store_.adjusts()[0][0].grant, "g2");
  EXPECT_EQ(stats()["fallback"], false) << "the store answers again";
}

TEST_F(SharedAdmissionTest, ADetachedReserveNeverAnswersAndItsGrantIsRefunded) {
  const std::uint64_t id = reserve();
  shared_->detach(id);
  store_.answer(0, Status::kReserved, {}, "g3");
  loop_.runReady();
  EXPECT_TRUE(answers_.empty());
  ASSERT_EQ(store_.adjusts().size(), 1u);
  EXPECT_EQ(store_.adjusts()[0][0].grant, "g3");
  EXPECT_EQ(stats()["reserving"], 0);
}

TEST_F(SharedAdmissionTest, ADetachedReserveStillTeachesARefusal) {
  shared_->detach(reserve());
  store_.answer(0, Status::kRefused, seconds(2));
  loop_.runReady();
  EXPECT_TRUE(answers_.empty());
  EXPECT_EQ(shared_->check(kPool, kModel, pair(), 100, now()).refusal, "shared_exhausted");
}

// The local share after the hold: what a call that wants no grant must leave alone.
TEST_F(SharedAdmissionTest, AnUnavailableStoreGivesNoLocalShareToACallGoneOrOutOfTime) {
  reserveAnswered(Status::kUnavailable);
  loop_.advance(seconds(61));
  answers_.clear();
  shared_->detach(reserve());
  reserve(now() + seconds(1));
  loop_.advance(seconds(2));
  store_.answerAll(Status::kUnavailable);
  loop_.runReady();
  ASSERT_EQ(answers_.size(), 1u) << "the detached one never answers";
  EXPECT_FALSE(answers_[0].reservation);
  EXPECT_TRUE(answers_[0].refusal.empty());
  EXPECT_EQ(local_.snapshot(kPool, kModel, now()).requests_level, 2)
      << "both requests of this replica's share are still there";
}

TEST_F(SharedAdmissionTest, ACallPastItsDeadlineGetsNoGrantAndNothingToRecord) {
  reserve(now() + seconds(1));
  loop_.advance(seconds(2));
  store_.answer(0, Status::kReserved, {}, "g4");
  loop_.runReady();
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_FALSE(answers_[0].reservation);
  EXPECT_TRUE(answers_[0].refusal.empty());
  ASSERT_EQ(store_.adjusts().size(), 1u);
  EXPECT_EQ(store_.adjusts()[0][0].grant, "g4");
}

TEST_F(SharedAdmissionTest, SendsOnTheLocalShareArePushedIntoTheStoresWindowOnceItAnswers) {
  reserveAnswered(Status::kUnavailable);
  loop_.advance(seconds(61));
  const SharedAdmission::Answer a = reserveAnswered(Status::kUnavailable);
  ASSERT_TRUE(a.reservation);
  shared_->sentOnLocalShare(*a.reservation, now());
  EXPECT_EQ(stats()["unsynced_sends"], 1);

  store_.adjust_status = Status::kUnavailable;  // still away: tried each second, kept
  loop_.advance(seconds(1));
  loop_.runReady();
  ASSERT_EQ(store_.adjusts().size(), 1u);
  EXPECT_EQ(stats()["unsynced_sends"], 1);

  store_.adjust_status = Status::kReserved;
  loop_.advance(seconds(1));
  loop_.runReady();
  ASSERT_EQ(store_.adjusts().size(), 2u);
  const auto& push = store_.adjusts()[1];
  ASSERT_EQ(push.size(), 2u);
  EXPECT_EQ(push[0].kind, SharedBucketSpec::Kind::kSlidingWindow);
  EXPECT_EQ(push[0].amount, 1);
  EXPECT_EQ(push[1].amount, 100);
  EXPECT_EQ(stats()["unsynced_sends"], 0);
  EXPECT_EQ(stats()["fallback_pushes"], 1);
}

TEST_F(SharedAdmissionTest, APendingPushGoesBeforeTheNextReserveOfThePair) {
  reserveAnswered(Status::kUnavailable);
  loop_.advance(seconds(61));
  const SharedAdmission::Answer a = reserveAnswered(Status::kUnavailable);
  ASSERT_TRUE(a.reservation);
  shared_->sentOnLocalShare(*a.reservation, now());
  const std::size_t calls = store_.calls().size();
  reserve();
  ASSERT_EQ(store_.calls().size(), calls + 2);
  EXPECT_EQ(store_.calls()[calls], "adjust");
  EXPECT_EQ(store_.calls()[calls + 1], "reserve");
}

TEST_F(SharedAdmissionTest, DestroyedWithAReservePendingItsLateAnswerDoesNothing) {
  reserve();
  store_.answer(0, Status::kReserved, {}, "g5");  // posted, not yet run
  shared_.reset();
  loop_.runReady();
  EXPECT_TRUE(answers_.empty());
  EXPECT_TRUE(store_.adjusts().empty());
}

}  // namespace
}  // namespace celeriac::balancer
