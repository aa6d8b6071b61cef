// Picker on its own: which endpoint, model and key a walk of the chain chooses, what it
// records of the candidates it leaves out and when they could go, and the checks that
// fail a call up front. Endpoints, admission and the shared store are built by hand; time
// is a ManualClock. (The whole call loop: core/balancer_*_test.cc.)
#include "routing/picker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "balancer/config_loader.h"
#include "core/fake_shared_bucket_store.h"
#include "fake_loop.h"

namespace celeriac::balancer {
namespace {

using celeriac::testing::FakeDispatcher;
using celeriac::testing::FakeSharedBucketStore;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Endpoint a serves m1 with two keys (1 request a minute each); b serves m2, one key.
constexpr const char* kTwoEndpoints = R"(
endpoints:
  - name: a
    url: "http://a/v1"
    models: [m1]
    limits: {m1: {rpm: 1}}
  - name: b
    url: "http://b/v1"
    models: [m2]
pricing:
  m1: {input: 40, output: 40}
  m2: {input: 1, output: 1}
capabilities:
  m1: {typical_latency: 5}
)";

class PickerTest : public ::testing::Test {
 protected:
  // Builds the parts as the Balancer does: `keys[e]` are endpoint e's key aliases.
  void make(const std::string& yaml, std::vector<std::vector<std::string>> keys,
            bool shared = false) {
    config_ = ConfigLoader::fromYaml(yaml).value();
    endpoints_.emplace(config_.breaker, admission_, loop_.clock());
    shared_.emplace(&store_, loop_, admission_);
    for (std::size_t e = 0; e < config_.endpoints.size(); ++e) {
      const EndpointConfig& ec = config_.endpoints[e];
      EndpointState ep{ec, {}, RetryBudget(config_.retry_budget), 0, {}};
      for (const std::string& alias : keys.at(e)) {
        ep.keys.push_back({alias, "sk-" + alias, alias, false, shared});
        for (const auto& [model, limits] : ec.limits) {
          if (shared) {
            shared_->configure(alias, model, limits, 2, now());
          } else {
            admission_.configure(alias, model, limits, now());
          }
        }
      }
      endpoints_->add(std::move(ep));
    }
    picker_.emplace(config_, *endpoints_, admission_, *shared_, nullptr, loop_.clock(), 7);
  }
  SteadyTime now() const { return loop_.clock().now(); }
  Call call(std::vector<std::string> chain, RoutingConstraints constraints = {}) {
    ChatRequest r;
    r.model = chain.front();
    r.messages = {ChatMessage::text("user", "hello")};
    r.constraints = constraints;
    Call c{ApiRequest(std::move(r))};
    c.chain = std::move(chain);
    c.submitted = now();
    c.deadline = now() + seconds(120);
    return c;
  }
  std::optional<Picker::Pick> pick(Call& c, bool honor_latency = true) {
    earliest_ = SteadyTime::max();
    return picker_->pick(c, now(), earliest_, honor_latency);
  }
  // Takes key `alias`'s one request of the minute for m1.
  void spend(const std::string& alias) {
    ASSERT_TRUE(admission_.tryReserve(alias, "m1", 10, now()).reservation);
  }
  static const TraceEntry* skipped(const Call& c, const std::string& reason) {
    for (const TraceEntry& t : c.trace) {
      if (t.kind == TraceEntry::Kind::kSkipped && t.reason == reason) return &t;
    }
    return nullptr;
  }

  FakeDispatcher loop_;
  FakeSharedBucketStore store_{loop_};
  BalancerConfig config_;
  AdmissionControl admission_;
  std::optional<Endpoints> endpoints_;
  std::optional<SharedAdmission> shared_;
  std::optional<Picker> picker_;
  SteadyTime earliest_ = SteadyTime::max();
};

TEST_F(PickerTest, TheFirstCandidateThatCanGoIsPickedWithAKeyAndTheTokensToReserve) {
  make(kTwoEndpoints, {{"k1", "k2"}, {"k3"}});
  Call c = call({"m1", "m2"});
  const auto p = pick(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->endpoint, 0u);
  EXPECT_EQ(p->model, "m1");
  EXPECT_EQ(p->key, 0u);
  EXPECT_GT(p->tokens, 0);
  EXPECT_FALSE(p->shared);
  EXPECT_TRUE(c.trace.empty());
}

TEST_F(PickerTest, AnEndpointsKeysTakeTurns) {
  make(R"(
endpoints:
  - {name: a, url: "http://a/v1", models: [m1]}
)",
       {{"k1", "k2", "k3"}});
  Call c = call({"m1"});
  std::vector<std::size_t> keys;
  for (int n = 0; n < 4; ++n) keys.push_back(pick(c)->key);
  EXPECT_EQ(keys, (std::vector<std::size_t>{0, 1, 2, 0}));
}

TEST_F(PickerTest, AnExhaustedKeyGivesWayToTheNextAndWhenAllAreTheSoonestIsTraced) {
  make(kTwoEndpoints, {{"k1", "k2"}, {"k3"}});
  spend("k1");
  Call c = call({"m1"});
  auto p = pick(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, 1u);

  loop_.advance(seconds(10));
  spend("k2");
  c = call({"m1"});
  EXPECT_FALSE(pick(c));
  const TraceEntry* t = skipped(c, "rpm_exhausted");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->endpoint, "a");
  EXPECT_EQ(t->key_alias, "k1") << "the key free soonest: k1 was spent 10 s earlier";
  EXPECT_EQ(earliest_, now() - seconds(10) + seconds(60));
}

TEST_F(PickerTest, AnOpenBreakerIsSkippedUntilItsRetryTimeAndTheChainFallsBack) {
  make(kTwoEndpoints, {{"k1"}, {"k3"}});
  Target& a = endpoints_->target(0, "m1");
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(a.breaker.tryAcquire(now()));
    a.breaker.onFailure(now());
  }
  Call c = call({"m1", "m2"});
  const auto p = pick(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->endpoint, 1u);
  EXPECT_EQ(p->model, "m2");
  const TraceEntry* t = skipped(c, "breaker_open");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->model, "m1");
  EXPECT_EQ(earliest_, now() + seconds(60)) << "the breaker's cooldown";
}

TEST_F(PickerTest, AQuietCallRecordsNoSkipsButStillLearnsWhenToTryAgain) {
  make(kTwoEndpoints, {{"k1"}, {"k3"}});
  spend("k1");
  Call c = call({"m1"});
  c.quiet = true;
  EXPECT_FALSE(pick(c));
  EXPECT_TRUE(c.trace.empty());
  EXPECT_EQ(earliest_, now() + seconds(60));
}

TEST_F(PickerTest, TooSlowACandidateIsLeftOutOnlyWhileLatencyIsHonoured) {
  make(kTwoEndpoints, {{"k1"}, {"k3"}});
  Call c = call({"m1"}, {milliseconds(1000), std::nullopt});
  EXPECT_FALSE(pick(c, true));
  EXPECT_TRUE(c.slow_skipped);
  EXPECT_NE(skipped(c, "over_latency_limit"), nullptr);
  const auto p = pick(c, false);
  ASSERT_TRUE(p) << "a slow answer beats none";
  EXPECT_EQ(p->model, "m1");
}

TEST_F(PickerTest, ASharedKeyWithAStoreIsPickedForTheStore) {
  make(kTwoEndpoints, {{"k1"}, {"k3"}}, true);
  Call c = call({"m1"});
  const auto p = pick(c);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->shared);
  Call other = call({"m2"});
  const auto q = pick(other);
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->shared) << "m2 has no limits: nothing for the store to count";
}

TEST_F(PickerTest, InAQuotaGroupOnlyItsSharedKeysGoThroughTheStore) {
  // Keys k1 (shared) and k2 (not) in one pool: the pool's limits are the store's, yet k2
  // is admitted locally.
  make(R"(
endpoints:
  - {name: a, url: "http://a/v1", models: [m1]}
)",
       {{}});
  (*endpoints_)[0].keys = {{"k1", "sk-1", "g", false, true}, {"k2", "sk-2", "g", false, false}};
  shared_->configure("g", "m1", {6, 0}, 2, now());
  Call c = call({"m1"});
  const auto first = pick(c);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->key, 0u);
  EXPECT_TRUE(first->shared);
  const auto second = pick(c);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->key, 1u);
  EXPECT_FALSE(second->shared);
}

TEST_F(PickerTest, ASharedKeyTheStoreRefusedIsSkippedUntilItsRetryAfter) {
  make(kTwoEndpoints, {{"k1"}, {"k3"}}, true);
  shared_->reserve("k1", "m1", 10, SteadyTime::max(), [](SharedAdmission::Answer) {});
  store_.answer(0, SharedReserveResult::Status::kRefused, seconds(5));
  loop_.runReady();
  Call c = call({"m1"});
  EXPECT_FALSE(pick(c));
  const TraceEntry* t = skipped(c, "shared_exhausted");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->key_alias, "k1");
  EXPECT_EQ(earliest_, now() + seconds(5));
}

TEST_F(PickerTest, AChainNoModelOfWhichCanEverMeetTheConstraintsFailsUpFront) {
  make(kTwoEndpoints, {{"k1"}, {"k3"}});
  EXPECT_TRUE(picker_->checkConstraints(call({"m1", "m2"}, {std::nullopt, 0.01})));
  const auto refused = picker_->checkConstraints(call({"m1"}, {std::nullopt, 0.01}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            "no model of the chain meets the request's constraints: m1 (over_cost_limit)");
}

TEST_F(PickerTest, AChainNoEndpointOffersTheApiForFailsUpFront) {
  make(R"(
endpoints:
  - {name: claude, url: "http://c/v1", provider: anthropic, models: [m1]}
)",
       {{"k1"}});
  EmbeddingRequest r;
  r.model = "m1";
  r.input = {"text"};
  Call c{ApiRequest(std::move(r))};
  c.chain = {"m1"};
  const auto refused = picker_->checkServed(c);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            "no endpoint serving m1 offers embeddings (their providers have no such API)");
  EXPECT_TRUE(picker_->checkServed(call({"m1"})));
}

}  // namespace
}  // namespace celeriac::balancer
