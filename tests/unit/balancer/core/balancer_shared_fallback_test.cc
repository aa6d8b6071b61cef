// Balancer over a SharedBucketStore that goes away: shared keys send nothing for one
// window, then use their local share (limit / replicas), counting their own recent
// sends, and write the sends made meanwhile into the store's window once it answers.
#include <gtest/gtest.h>

#include "balancer_shared_fixture.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using Status = SharedReserveResult::Status;

TEST_F(BalancerSharedTest, UnavailableHoldsSharedKeysForAWindowThenFallsBackToTheShare) {
  make(kShared);  // rpm 6 over 3 replicas: 2 per minute locally
  for (int i = 0; i < 3; ++i) submit();
  loop_.runReady();
  ASSERT_EQ(store_.reserves(), 3u);
  store_.answerAll(Status::kUnavailable);
  loop_.runReady();
  EXPECT_EQ(http_.count(), 0u) << "other replicas' grants of this window are unknown here";
  auto shared = balancer_->stats()["shared_buckets"];
  EXPECT_EQ(shared["fallback"], true);
  EXPECT_EQ(shared["fallbacks"], 3);
  // While holding, a waiting call does not ask the store at all.
  loop_.advance(30s);
  EXPECT_EQ(store_.reserves(), 3u);
  passTheFallbackHold();
  EXPECT_EQ(http_.count(), 2u) << "then the local share admits 2, the third waits";
  // Sends on the local share are settled locally, never in the store.
  http_.reply(0, 200, kOk);
  loop_.runReady();
  EXPECT_TRUE(store_.adjusts().empty());
  // The store comes back (the third call has given up waiting by now, after
  // max_queue_wait): the next answer ends the fallback.
  loop_.advance(61s);
  submit();
  loop_.runReady();
  store_.answerAll(Status::kReserved);
  loop_.runReady();
  EXPECT_EQ(http_.count(), 3u);
  EXPECT_EQ(balancer_->stats()["shared_buckets"]["fallback"], false);
}

TEST_F(BalancerSharedTest, AReplicaFallingBackNeverAddsToAnotherReplicasGrantsOfTheSameMinute) {
  make(kShared);
  FakeTransport other_http{loop_};
  auto other =
      Balancer::create(ConfigLoader::fromYaml(kShared).value(), loop_, other_http,
                       ConfigLoader::secretResolver({{"KEY_A", "sk-a"}}, nullptr), 2, &store_)
          .value();
  for (int i = 0; i < 6; ++i) submit();  // replica A: the whole minute from the store
  loop_.runReady();
  store_.answerAll(Status::kReserved);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 6u);
  // Redis goes away; replica B, idle until now, gets calls.
  for (int i = 0; i < 2; ++i) {
    ChatRequest r;
    r.model = "m";
    r.messages = {ChatMessage::text("user", "hello")};
    other->submit(r, [](CallResult) {});
  }
  loop_.runReady();
  store_.answerAll(Status::kUnavailable);
  loop_.runReady();
  for (int second = 0; second < 60; ++second) {
    loop_.advance(1s);
    store_.answerAll(Status::kUnavailable);
    loop_.runReady();
    EXPECT_EQ(other_http.count(), 0u) << "B sent within the minute of A's grants, at " << second;
  }
  loop_.advance(1s);  // A's grants (and the guard) have left the window
  store_.answerAll(Status::kUnavailable);
  loop_.runReady();
  EXPECT_EQ(other_http.count(), 2u) << "then B sends its share";
}

TEST_F(BalancerSharedTest, LocalSendsAreWrittenIntoTheStoreWindowBeforeTheNextReserve) {
  ASSERT_NO_FATAL_FAILURE(sendOneOnTheLocalShare());
  http_.reply(0, 200, kOk);
  loop_.runReady();
  EXPECT_EQ(balancer_->stats()["shared_buckets"]["unsynced_sends"], 1);
  submit();  // the store is back
  loop_.runReady();
  // (the reserve, the one at the end of the fallback hold, the push, the new reserve)
  ASSERT_EQ(store_.calls(), (std::vector<std::string>{"reserve", "reserve", "adjust", "reserve"}))
      << "the local send is written before the next reserve, on the same connection";
  const auto& pushed = store_.adjusts().at(0);
  ASSERT_EQ(pushed.size(), 2u);
  EXPECT_EQ(pushed[0].key, sharedBucketTag("e", "m") + ":rpmw");
  EXPECT_DOUBLE_EQ(pushed[0].amount, 1) << "one window entry per local send";
  EXPECT_TRUE(pushed[0].grant.empty());
  EXPECT_DOUBLE_EQ(pushed[1].amount, store_.reserved(0)[1].amount)
      << "its reserved tokens (an estimate: the store never saw its usage)";
  store_.answer(2, Status::kReserved);
  loop_.runReady();
  EXPECT_EQ(http_.count(), 2u);
  const auto shared = balancer_->stats()["shared_buckets"];
  EXPECT_EQ(shared["unsynced_sends"], 0);
  EXPECT_EQ(shared["fallback_pushes"], 1);
  EXPECT_EQ(shared["fallback"], false);
}

TEST_F(BalancerSharedTest, AnIdleReplicaOffersItsLocalSendsEverySecondUntilTheStoreTakesThem) {
  ASSERT_NO_FATAL_FAILURE(sendOneOnTheLocalShare());
  store_.adjust_status = Status::kUnavailable;
  loop_.advance(1s);
  loop_.runReady();
  EXPECT_EQ(store_.adjusts().size(), 1u);
  EXPECT_EQ(balancer_->stats()["shared_buckets"]["unsynced_sends"], 1) << "kept: not written";
  loop_.advance(1s);
  loop_.runReady();
  EXPECT_EQ(store_.adjusts().size(), 2u);
  store_.adjust_status = Status::kReserved;
  loop_.advance(1s);
  loop_.runReady();
  ASSERT_EQ(store_.adjusts().size(), 3u);
  EXPECT_DOUBLE_EQ(store_.adjusts()[2][0].amount, 1);
  EXPECT_EQ(balancer_->stats()["shared_buckets"]["unsynced_sends"], 0);
  loop_.advance(10s);
  loop_.runReady();
  EXPECT_EQ(store_.adjusts().size(), 3u) << "nothing left to write: the timer stops";
}

TEST_F(BalancerSharedTest, AStoreBackWithinTheHoldHasItsGrantsHeldToo) {
  make(kShared);
  submit();
  submit();
  loop_.runReady();
  ASSERT_EQ(store_.reserves(), 2u);
  store_.answer(0, Status::kUnavailable);  // the outage begins
  loop_.runReady();
  store_.answer(1, Status::kReserved);  // back at once, but without its data
  loop_.runReady();
  EXPECT_EQ(http_.count(), 0u) << "a grant within the hold went out";
  EXPECT_EQ(store_.adjusts().size(), 1u) << "the held grant is handed back";
  loop_.advance(61s);
  store_.answerAll(Status::kReserved);
  loop_.runReady();
  EXPECT_GT(http_.count(), 0u);
}

TEST_F(BalancerSharedTest, LocalSendsOlderThanTheWindowAreDroppedNotWritten) {
  ASSERT_NO_FATAL_FAILURE(sendOneOnTheLocalShare());
  store_.adjust_status = Status::kUnavailable;  // away for longer than the window
  loop_.advance(70s);
  loop_.runReady();
  const std::size_t tries = store_.adjusts().size();
  EXPECT_GE(tries, 55u);
  EXPECT_LE(tries, 62u) << "offered about once a second while it still counts";
  EXPECT_EQ(balancer_->stats()["shared_buckets"]["unsynced_sends"], 0);
  store_.adjust_status = Status::kReserved;
  submit();
  loop_.runReady();
  EXPECT_EQ(store_.adjusts().size(), tries) << "a send a window old is not written late";
}

TEST_F(BalancerSharedTest, WithoutAStoreSharedKeysUseTheirLocalShare) {
  make(kShared, false);
  for (int i = 0; i < 3; ++i) submit();
  loop_.runReady();
  EXPECT_EQ(http_.count(), 2u);
  EXPECT_EQ(store_.reserves(), 0u);
  EXPECT_EQ(balancer_->stats()["shared_buckets"]["fallback"], true);
}

}  // namespace
}  // namespace celeriac::balancer
