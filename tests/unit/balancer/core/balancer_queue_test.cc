// Waiting for capacity: the wait queue's timer (never polling), its order (queue
// priority, then first come), and capacity that comes back early (refunds, freed trial
// slots) going to the first waiter, after the key's own state is settled.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "balancer_fixture.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;

// One key on one endpoint, 1000 TPM, 500 max_tokens: a call reserves ~500 tokens, so a
// second waits for tokens until the first one's reply refunds what it did not use.
constexpr const char* kOneKeyTpm1000 = R"(
timeout: 120
max_queue_wait: 90
endpoints:
  - {name: e, url: "http://e/v1", models: [m], max_tokens: 500, api_key_env: KEY_A,
     limits: {m: {tpm: 1000}}}
)";

TEST_F(BalancerTest, WaitsForTheRequestWindowWithATimerNotPolling) {
  make(R"(
timeout: 120
max_queue_wait: 90
endpoints:
  - {name: e, url: "http://e/v1", models: [m], limits: {m: {rpm: 60}}}
)");
  for (int i = 0; i < 60; ++i) submitModel("m");
  loop_.runReady();
  EXPECT_EQ(http_.count(), 60u);
  loop_.advance(10s);
  submitModel("m");
  loop_.runReady();
  EXPECT_EQ(http_.count(), 60u) << "61st request must wait for the window to move";
  EXPECT_EQ(loop_.pendingTimers(), 1u);
  loop_.advance(49'999ms);
  EXPECT_EQ(http_.count(), 60u);
  loop_.advance(1ms);
  EXPECT_EQ(http_.count(), 61u) << "due exactly when the first send leaves the window";
}

// Capacity that comes back early (here, the refund of an estimate the reply did not
// use) goes to the call that was waiting for it, at once, not to a newcomer; and the
// fast path is only taken with nobody waiting.
TEST_F(BalancerTest, ARefundGoesToTheWaitingCallBeforeANewcomer) {
  make(kOneKeyTpm1000);
  ChatRequest first, waiting, newcomer;
  for (auto* r : {&first, &waiting, &newcomer}) r->model = "m";
  first.messages = {ChatMessage::text("user", "first")};
  waiting.messages = {ChatMessage::text("user", "waiting")};
  newcomer.messages = {ChatMessage::text("user", "newcomer")};
  submit(first);    // reserves ~500 tokens
  submit(waiting);  // ~500 more do not fit: waits for the refill
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  ASSERT_EQ(loop_.pendingTimers(), 1u) << "waiting on a timer, not polling";
  http_.reply(0, 200, okBody("first", "m"));  // used 150: 350 come back, room for one
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  ASSERT_EQ(http_.count(), 2u) << "the waiting call takes the refund at once";
  EXPECT_NE(http_.request(1).body.find("waiting"), std::string::npos);
  submit(newcomer);
  EXPECT_EQ(http_.count(), 2u) << "not inside submit while it cannot fit";
  loop_.runReady();
  EXPECT_EQ(http_.count(), 2u) << "the newcomer waits its turn";
}

// Offering capacity to a waiter that still cannot go leaves no trace and costs it its
// place in nothing: fifty answers elsewhere do not grow its trace fifty times.
TEST_F(BalancerTest, EarlyOffersThatCannotStartAWaiterLeaveItsTraceAlone) {
  make(R"(
timeout: 300
max_queue_wait: 90
endpoints:
  - {name: a, url: "http://a/v1", models: [m1], limits: {m1: {rpm: 1}}}
  - {name: b, url: "http://b/v1", models: [m2]}
)");
  submitModel("m1");
  submitModel("m1");  // waits a minute for a's window
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  http_.reply(0, 200, okBody("ok", "m1"));
  loop_.runReady();
  for (int i = 0; i < 50; ++i) {
    submitModel("m2");
    loop_.runReady();
    http_.reply(http_.count() - 1, 200, okBody("ok", "m2"));
    loop_.runReady();
  }
  loop_.advance(60s);
  ASSERT_EQ(results_.size(), 51u);
  http_.reply(http_.count() - 1, 200, okBody("ok", "m1"));
  loop_.runReady();
  ASSERT_EQ(results_.size(), 52u);
  const CallResult& waited = results_.back();
  ASSERT_TRUE(waited.ok());
  EXPECT_LE(waited.trace.size(), 6u) << "one skip and one wait per real walk, no more";
}

// A call that waits out an outage wakes again and again; each wake-up walks its chain.
// Its trace records each kind of skip and wait once and counts the repeats, so it does
// not grow with the time waited (it did: about 41 KB a call under mass timeouts).
TEST_F(BalancerTest, AWaitThroughAnOutageKeepsItsTraceBoundedAndCountsRepeats) {
  make(R"(
timeout: 300
max_queue_wait: 200
max_attempts: 100
backoff: {base: 0.1, cap: 0.1}
circuit_breaker: {consecutive_failures: 1, cooldown: 1}
endpoints:
  - {name: a, url: "http://a/v1", models: [m1]}
)");
  submitModel("m1");
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  // Every attempt fails for a minute: the breaker opens, lets one trial through after
  // each cooldown, and opens again.
  for (int second = 0; second < 60; ++second) {
    for (std::size_t i = 0; i < http_.count(); ++i) {
      http_.reply(i, 503, R"({"error":{"message":"down"}})");  // no-op once answered
    }
    loop_.advance(1s);
  }
  ASSERT_TRUE(results_.empty()) << "still waiting within its deadline";
  // Back: the next trial succeeds.
  for (int second = 0; second < 5 && results_.empty(); ++second) {
    for (std::size_t i = 0; i < http_.count(); ++i) http_.reply(i, 200, okBody("back", "m1"));
    loop_.advance(1s);
  }
  ASSERT_EQ(results_.size(), 1u);
  const CallResult& r = results_[0];
  ASSERT_TRUE(r.ok()) << r.failure().message;
  // Seven attempts (the breaker's cooldown doubles: 1, 2, 4, 8, 16, 32 s), and between
  // them six walks that found the breaker open and waited: one entry each, repeated.
  std::vector<std::string> routing;
  int attempts = 0;
  for (const TraceEntry& e : r.trace) {
    if (e.kind == TraceEntry::Kind::kAttempt) {
      ++attempts;
      continue;
    }
    routing.push_back(e.reason + " x" + std::to_string(1 + e.repeats));
  }
  EXPECT_EQ(attempts, 7);
  EXPECT_EQ(routing, (std::vector<std::string>{"breaker_open x6", "capacity x6"}));
}

// A 429 refunds the call's tokens, and that capacity is offered to the waiter; but the
// key is paused first, so the waiter does not go out on it and earn another 429.
TEST_F(BalancerTest, ARateLimitedKeyIsPausedBeforeItsRefundIsOffered) {
  make(kOneKeyTpm1000);
  submitModel("m");
  submitModel("m");  // waits for tokens
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  http_.reply(0, 429, "", {{"retry-after", "30"}});
  loop_.runReady();
  EXPECT_EQ(http_.count(), 1u) << "paused: neither the retry nor the waiter goes";
  loop_.advance(29s);
  EXPECT_EQ(http_.count(), 1u);
  loop_.advance(1s);
  EXPECT_GE(http_.count(), 2u) << "after the pause";
}

// Likewise a 401: the waiter must not go out on the key just found invalid.
TEST_F(BalancerTest, AnInvalidKeyIsTakenOutBeforeItsCapacityIsOffered) {
  make(kOneKeyTpm1000);
  submitModel("m");
  submitModel("m");  // waits for tokens
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  http_.reply(0, 401, R"({"error":{"message":"bad key"}})");
  loop_.runReady();
  EXPECT_EQ(http_.count(), 1u) << "no request on a key known to be invalid";
  ASSERT_EQ(results_.size(), 1u);
}

// Calls waiting on the same refill go in queue-priority order (Celery's message
// priority for the worker's tasks), then first come.
TEST_F(BalancerTest, AtTheRefillTheHigherQueuePriorityGoesFirst) {
  make(R"(
timeout: 300
max_queue_wait: 90
endpoints:
  - {name: e, url: "http://e/v1", models: [m], limits: {m: {rpm: 1}}}
)");
  ChatRequest first, low, high;
  for (auto* r : {&first, &low, &high}) r->model = "m";
  first.messages = {ChatMessage::text("user", "first")};
  low.messages = {ChatMessage::text("user", "low")};
  high.messages = {ChatMessage::text("user", "high")};
  high.queue_priority = 9;
  submit(first);
  submit(low);   // waits for the window
  submit(high);  // waits too, after it
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  loop_.advance(60s);
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_NE(http_.request(1).body.find("high"), std::string::npos) << "priority before age";
  loop_.advance(60s);
  ASSERT_EQ(http_.count(), 3u);
  EXPECT_NE(http_.request(2).body.find("low"), std::string::npos);
}

// A call the fast path cannot start is walked again by step() on the next turn: its
// trace holds each skip once, not once per walk.
TEST_F(BalancerTest, ACallNotStartedInsideSubmitRecordsEachSkipOnce) {
  make(R"(
endpoints:
  - {name: e, url: "http://e/v1", models: [m], limits: {m: {rpm: 1}}}
)");
  submitModel("m");
  submitModel("m", 5s);
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  int skips = 0;
  for (const auto& t : results_[0].trace) skips += t.kind == TraceEntry::Kind::kSkipped ? 1 : 0;
  EXPECT_EQ(skips, 1);
}

TEST_F(BalancerTest, RefillBeyondTheDeadlineReportsAllUnavailable) {
  make(R"(
endpoints:
  - {name: e, url: "http://e/v1", models: [m], limits: {m: {rpm: 1}}}
)");
  submitModel("m");
  loop_.runReady();
  submitModel("m", 5s);
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kAllUnavailable);
  EXPECT_EQ(*results_[0].failure().retry_at, loop_.clock().now() + 60s);
}

}  // namespace
}  // namespace celeriac::balancer
