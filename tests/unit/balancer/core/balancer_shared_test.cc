// Balancer over a SharedBucketStore: shared keys reserve all their buckets in the store,
// wait out refusals, fall back to their local share when the store is away, and settle
// through adjust().
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "balancer/balancer.h"
#include "balancer/config_loader.h"
#include "fake_loop.h"
#include "fake_shared_bucket_store.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using celeriac::testing::FakeDispatcher;
using celeriac::testing::FakeSharedBucketStore;
using celeriac::testing::FakeTransport;
using Status = SharedReserveResult::Status;

const std::string kOk =
    R"({"model":"m","choices":[{"message":{"role":"assistant","content":"hi"},)"
    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":50}})";

constexpr const char* kShared = R"(
timeout: 120
max_queue_wait: 90
endpoints:
  - name: e
    url: "http://e/v1"
    models: [m]
    api_key_env: KEY_A
    shared: true
    replicas: 3
    limits: {m: {rpm: 6, tpm: 100000}}
)";

class BalancerSharedTest : public ::testing::Test {
 protected:
  void make(const std::string& yaml, bool with_store = true) {
    balancer_ = std::make_unique<Balancer>(
        ConfigLoader::fromYaml(yaml), loop_, http_,
        ConfigLoader::secretResolver({{"KEY_A", "sk-a"}, {"KEY_B", "sk-b"}}, nullptr), 1,
        with_store ? &store_ : nullptr);
  }
  CallId submit() {
    ChatRequest r;
    r.model = "m";
    r.messages = {ChatMessage::text("user", "hello")};
    return balancer_->submit(r, [this](CallResult res) { results_.push_back(std::move(res)); });
  }
  // The store went away one window ago: the call's probes are answered "unavailable"
  // and the fallback hold is over.
  void passTheFallbackHold() {
    loop_.advance(61s);
    store_.answerAll(Status::kUnavailable);
    loop_.runReady();
  }
  // A call sent on the local share: the store said it was unavailable (for a window).
  void sendOneOnTheLocalShare() {
    make(kShared);
    submit();
    loop_.runReady();
    store_.answerAll(Status::kUnavailable);
    loop_.runReady();
    ASSERT_EQ(http_.count(), 0u);
    passTheFallbackHold();
    ASSERT_EQ(http_.count(), 1u);
  }
  static bool traceHas(const CallResult& r, const std::string& reason) {
    for (const auto& t : r.trace) {
      if (t.reason == reason) return true;
    }
    return false;
  }

  FakeDispatcher loop_;
  FakeTransport http_{loop_};
  FakeSharedBucketStore store_{loop_};
  std::unique_ptr<Balancer> balancer_;
  std::vector<CallResult> results_;
};

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

// Before the fix, a replica that had no grant of its own fell back to a full share at
// once, while another replica's grants of the same minute had used the whole limit: rpm
// 6, replica A granted 6 by the store, then Redis gone, and B sent 2 more in that minute.
TEST_F(BalancerSharedTest, AReplicaFallingBackNeverAddsToAnotherReplicasGrantsOfTheSameMinute) {
  make(kShared);
  FakeTransport other_http{loop_};
  Balancer other(ConfigLoader::fromYaml(kShared), loop_, other_http,
                 ConfigLoader::secretResolver({{"KEY_A", "sk-a"}}, nullptr), 2, &store_);
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
    other.submit(r, [](CallResult) {});
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

// Before the fix, the store's window never heard of the sends made on the local share,
// so right after the outage it granted a full limit on top of them.
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

// A Redis restarted without its data (no persistence) forgets every grant of the minute:
// its grants within one window of the outage wait like the local share does.
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

TEST(SharedScriptArgvTest, WritesModeThenFiveValuesPerLimitInOrder) {
  SharedBucketSpec window;
  window.key = "{k}:rpmw";
  window.capacity = 60;
  window.amount = -1;
  window.kind = SharedBucketSpec::Kind::kSlidingWindow;
  window.period = std::chrono::milliseconds(61000);
  window.grant = "123-1";
  SharedBucketSpec bucket;
  bucket.key = "{k}:tpm";
  bucket.capacity = 100000;
  bucket.amount = 0.1;
  std::vector<std::string> argv = sharedScriptArgv("adjust", {window, bucket});
  ASSERT_EQ(argv.size(), 11u);
  EXPECT_EQ(std::stod(argv[7]), 100000) << argv[7];  // shortest form: may read "1e+05"
  argv[7] = "100000";
  EXPECT_EQ(argv, (std::vector<std::string>{"adjust", "window", "60", "-1", "61000", "123-1",
                                            "bucket", "100000", "0.1", "60000", ""}));
}

TEST(SharedScriptArgvTest, WritesNumbersExactlyInTheirShortestForm) {
  SharedBucketSpec bucket;
  bucket.capacity = 12345678901.0;
  bucket.amount = 1.0 / 3.0;
  const std::vector<std::string> argv = sharedScriptArgv("reserve", {bucket});
  ASSERT_EQ(argv.size(), 6u);
  EXPECT_EQ(argv[2], "12345678901");
  EXPECT_EQ(std::stod(argv[3]), 1.0 / 3.0) << argv[3];
}

TEST(SharedBucketTagTest, HashTagsEveryLimitOfAKeyAndModelIntoOneSlot) {
  EXPECT_EQ(sharedBucketTag("alias", "gpt-4o"), "{celeriac:key:alias:gpt-4o}");
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

TEST(SharedConfigTest, ReplicasWithoutSharedIsAnError) {
  try {
    (void)ConfigLoader::fromYaml(R"(
endpoints:
  - {name: e, url: "http://e/v1", replicas: 2}
)");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "endpoints[0].replicas");
  }
}

TEST(SharedConfigTest, ParsesSharedOnEndpointsAndKeys) {
  const auto cfg = ConfigLoader::fromYaml(R"(
endpoints:
  - name: e
    url: "http://e/v1"
    shared: true
    replicas: 4
    keys:
      - {alias: a, env: A}
      - {alias: b, env: B, shared: false}
)");
  EXPECT_TRUE(cfg.endpoints[0].shared);
  EXPECT_EQ(cfg.endpoints[0].replicas, 4);
  EXPECT_FALSE(cfg.endpoints[0].keys[0].shared.has_value());
  EXPECT_EQ(cfg.endpoints[0].keys[1].shared, false);
  EXPECT_THROW((void)ConfigLoader::fromYaml(R"(
endpoints:
  - {name: e, url: "http://e/v1", shared: yes-please}
)"),
               ConfigError);
}

}  // namespace
}  // namespace celeriac::balancer
