// Balancer over a SharedBucketStore: shared keys reserve all their buckets in the store,
// wait out refusals and settle through adjust() (falling back to the local share when the
// store is away: balancer_shared_fallback_test.cc).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "balancer_shared_fixture.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using Status = SharedReserveResult::Status;

TEST_F(BalancerSharedTest, ReservesEveryBucketInTheStoreWithFullLimitsBeforeSending) {
  make(kShared);
  submit();
  loop_.runReady();
  ASSERT_EQ(store_.reserves(), 1u);
  EXPECT_EQ(http_.count(), 0u) << "nothing goes out before the store agrees";
  const auto& specs = store_.reserved(0);
  ASSERT_EQ(specs.size(), 3u);
  // A pause another replica's 429 may have set holds this reserve too.
  EXPECT_EQ(specs[2].key, sharedBucketTag("e", "m") + ":pause");
  EXPECT_EQ(specs[2].kind, SharedBucketSpec::Kind::kPause);
  EXPECT_DOUBLE_EQ(specs[2].amount, 0);
  // Requests: an exact sliding window (never a bucket, which allows ~2x in a minute),
  // a little longer than a minute so arrival jitter cannot fit two windows' worth into
  // one of the provider's.
  EXPECT_EQ(specs[0].key, sharedBucketTag("e", "m") + ":rpmw");
  EXPECT_EQ(specs[0].kind, SharedBucketSpec::Kind::kSlidingWindow);
  EXPECT_DOUBLE_EQ(specs[0].capacity, 6) << "the store holds the whole key's limit";
  EXPECT_DOUBLE_EQ(specs[0].amount, 1);
  EXPECT_GT(specs[0].period, std::chrono::milliseconds(60s));
  EXPECT_LE(specs[0].period, std::chrono::milliseconds(61s));
  EXPECT_TRUE(specs[0].grant.empty());
  EXPECT_EQ(specs[1].key, sharedBucketTag("e", "m") + ":tpm");
  EXPECT_EQ(specs[1].kind, SharedBucketSpec::Kind::kTokenBucket);
  EXPECT_EQ(specs[1].period, std::chrono::milliseconds(60s));
  EXPECT_DOUBLE_EQ(specs[1].capacity, 100000);
  const double tokens = specs[1].amount;
  store_.answer(0, Status::kReserved);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  http_.reply(0, 200, kOk);
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  ASSERT_EQ(store_.adjusts().size(), 1u) << "usage reconciles through the same script";
  ASSERT_EQ(store_.adjusts()[0].size(), 1u);
  EXPECT_EQ(store_.adjusts()[0][0].key, sharedBucketTag("e", "m") + ":tpm");
  EXPECT_DOUBLE_EQ(store_.adjusts()[0][0].amount, 150 - tokens);
  EXPECT_EQ(balancer_->stats()["shared_buckets"]["reserved"], 1);
  EXPECT_EQ(balancer_->stats()["shared_buckets"]["fallback"], false);
}

TEST_F(BalancerSharedTest, EmbeddingsReserveTheirInputTokensInTheStoreAndSettleWithUsage) {
  make(kShared);
  EmbeddingRequest r;
  r.model = "m";
  r.input = {"a", "b"};
  r.estimated_prompt_tokens = 40;
  balancer_->submit(r, [this](CallResult res) { results_.push_back(std::move(res)); });
  loop_.runReady();
  ASSERT_EQ(store_.reserves(), 1u);
  const auto& specs = store_.reserved(0);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_DOUBLE_EQ(specs[0].amount, 1);
  EXPECT_DOUBLE_EQ(specs[1].amount, 40) << "the input estimate only: no max_tokens";
  EXPECT_EQ(specs[2].kind, SharedBucketSpec::Kind::kPause);
  store_.answer(0, Status::kReserved);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  EXPECT_EQ(http_.request(0).url, "http://e/v1/embeddings");
  http_.reply(0, 200,
              R"({"data":[{"index":0,"embedding":[0.1]},{"index":1,"embedding":[0.2]}],)"
              R"("model":"m","usage":{"prompt_tokens":30,"total_tokens":30}})");
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  EXPECT_EQ(results_[0].success().vectors.size(), 2u);
  ASSERT_EQ(store_.adjusts().size(), 1u);
  ASSERT_EQ(store_.adjusts()[0].size(), 1u);
  EXPECT_EQ(store_.adjusts()[0][0].key, sharedBucketTag("e", "m") + ":tpm");
  EXPECT_DOUBLE_EQ(store_.adjusts()[0][0].amount, 30 - 40);
}

TEST_F(BalancerSharedTest, RefusedWaitsForRetryAfterWithATimerNotPolling) {
  make(kShared);
  submit();
  loop_.runReady();
  store_.answer(0, Status::kRefused, 5s);
  loop_.runReady();
  EXPECT_EQ(http_.count(), 0u);
  EXPECT_EQ(loop_.pendingTimers(), 1u);
  loop_.advance(4999ms);
  EXPECT_EQ(store_.reserves(), 1u) << "the store is not asked again before retry_after";
  loop_.advance(1ms);
  ASSERT_EQ(store_.reserves(), 2u);
  store_.answer(1, Status::kReserved);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  http_.reply(0, 200, kOk);
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  EXPECT_TRUE(traceHas(results_[0], "shared_exhausted"));
}

TEST_F(BalancerSharedTest, RefusedMovesToAnotherKeyWithCapacity) {
  make(R"(
endpoints:
  - name: e
    url: "http://e/v1"
    models: [m]
    limits: {m: {rpm: 60}}
    keys:
      - {alias: a, env: KEY_A, shared: true}
      - {alias: b, env: KEY_B}
)");
  submit();
  loop_.runReady();
  ASSERT_EQ(store_.reserves(), 1u);
  store_.answer(0, Status::kRefused, 30s);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u) << "key b (local) takes the call at once";
  http_.reply(0, 200, kOk);
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  EXPECT_EQ(results_[0].success().key_alias, "b");
}

// Before the fix, a replica that had no grant of its own fell back to a full share at
// once, while another replica's grants of the same minute had used the whole limit: rpm
// 6, replica A granted 6 by the store, then Redis gone, and B sent 2 more in that minute.
// Before the fix, the store's window never heard of the sends made on the local share,
// so right after the outage it granted a full limit on top of them.
// A Redis restarted without its data (no persistence) forgets every grant of the minute:
// its grants within one window of the outage wait like the local share does.
TEST_F(BalancerSharedTest, CancelWhileReservingEndsOnTheNextTurnAndRefundsALateGrant) {
  make(kShared);
  const CallId id = submit();
  loop_.runReady();
  ASSERT_EQ(store_.reserves(), 1u);
  balancer_->cancel(id);
  EXPECT_TRUE(results_.empty()) << "never inside cancel()";
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kCancelled);
  store_.answer(0, Status::kReserved, {}, "1700000000000000-1");
  loop_.runReady();
  EXPECT_EQ(http_.count(), 0u);
  EXPECT_EQ(results_.size(), 1u) << "exactly once";
  ASSERT_EQ(store_.adjusts().size(), 1u);
  const auto& refund = store_.adjusts()[0];
  ASSERT_EQ(refund.size(), 2u);
  EXPECT_EQ(refund[0].key, sharedBucketTag("e", "m") + ":rpmw");
  EXPECT_DOUBLE_EQ(refund[0].amount, -1);
  EXPECT_EQ(refund[0].grant, "1700000000000000-1") << "frees exactly its own window entry";
  EXPECT_DOUBLE_EQ(refund[1].amount, -store_.reserved(0)[1].amount);
  EXPECT_EQ(balancer_->stats()["shared_buckets"]["reserving"], 0);
}

TEST_F(BalancerSharedTest, UnknownUsageNeverRefundsAndA429RefundsOnlyTokens) {
  make(kShared);
  submit();
  loop_.runReady();
  store_.answer(0, Status::kReserved);
  loop_.runReady();
  http_.reply(0, 200, R"({"choices":[{"message":{"content":"no usage"}}]})");
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  EXPECT_TRUE(store_.adjusts().empty());
  submit();
  loop_.runReady();
  store_.answer(1, Status::kReserved);
  loop_.runReady();
  http_.reply(1, 429, "", {{"retry-after", "1"}});
  loop_.runReady();
  ASSERT_EQ(store_.adjusts().size(), 2u);
  ASSERT_EQ(store_.adjusts()[0].size(), 1u) << "the request counted; its tokens did not";
  EXPECT_EQ(store_.adjusts()[0][0].key, sharedBucketTag("e", "m") + ":tpm");
  EXPECT_DOUBLE_EQ(store_.adjusts()[0][0].amount, -store_.reserved(1)[1].amount);
  // The 429 pauses the key for every replica, through the store.
  ASSERT_EQ(store_.adjusts()[1].size(), 1u);
  EXPECT_EQ(store_.adjusts()[1][0].key, sharedBucketTag("e", "m") + ":pause");
  EXPECT_EQ(store_.adjusts()[1][0].kind, SharedBucketSpec::Kind::kPause);
  EXPECT_DOUBLE_EQ(store_.adjusts()[1][0].amount, 1000) << "Retry-After: 1 s";
}

TEST_F(BalancerSharedTest, AGrantHandedBackAfterA401NamesItsWindowEntry) {
  make(kShared);
  submit();
  loop_.runReady();
  store_.answer(0, Status::kReserved, {}, "g-7");
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  http_.reply(0, 401, R"({"error":{"message":"bad key"}})");
  loop_.runReady();
  ASSERT_FALSE(store_.adjusts().empty());
  const auto& refund = store_.adjusts()[0];
  ASSERT_FALSE(refund.empty());
  EXPECT_EQ(refund[0].kind, SharedBucketSpec::Kind::kSlidingWindow);
  EXPECT_DOUBLE_EQ(refund[0].amount, -1);
  EXPECT_EQ(refund[0].grant, "g-7");
}

TEST_F(BalancerSharedTest, ReconcilingUsageNeverTouchesTheRequestWindow) {
  make(kShared);
  submit();
  loop_.runReady();
  store_.answer(0, Status::kReserved, {}, "g-1");
  loop_.runReady();
  http_.reply(0, 200, kOk);
  loop_.runReady();
  ASSERT_EQ(store_.adjusts().size(), 1u);
  for (const auto& spec : store_.adjusts()[0]) {
    EXPECT_EQ(spec.kind, SharedBucketSpec::Kind::kTokenBucket) << spec.key;
  }
}

TEST_F(BalancerSharedTest, DestroyedWhileReservingIgnoresTheLateAnswer) {
  make(kShared);
  submit();
  loop_.runReady();
  balancer_.reset();
  store_.answer(0, Status::kReserved);
  loop_.runReady();
  EXPECT_TRUE(results_.empty());
  EXPECT_EQ(http_.count(), 0u);
}

}  // namespace
}  // namespace celeriac::balancer
