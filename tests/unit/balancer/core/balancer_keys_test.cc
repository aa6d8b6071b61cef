// Balancer and its keys: a 429 pauses the key (or its pool) and the call moves to another
// key; provider rate-limit headers pace a key before any 429 (OpenAI's and Anthropic's);
// an invalid key is taken out and reported by alias.
#include <gtest/gtest.h>

#include "balancer_fixture.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;

TEST_F(BalancerTest, RateLimitPausesTheKeyAndMovesToAnotherKey) {
  make(kTwoKeys);
  submitModel("m");
  loop_.runReady();
  const std::string first_auth = http_.request(0).headers.back().value;
  http_.reply(0, 429, "", {{"retry-after", "30"}});
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_NE(http_.request(1).headers.back().value, first_auth);
  http_.reply(1, 200, okBody("ok", "m"));
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  int paused = 0;
  const auto stats = balancer_->stats();
  for (const auto& b : stats["endpoints"][0]["models"][0]["buckets"]) {
    paused += b["paused_for_ms"].get<std::int64_t>() > 0 ? 1 : 0;
  }
  EXPECT_EQ(paused, 1) << "stats show the paused key";
  // For the next 30 s only the other key is used; then the paused one is back.
  expectKeyRestsThenReturns(first_auth, 4, 1s, 26s);
}

// No limits are configured for (key, model): the provider's headers alone pace it. The
// response says no request is left until a reset 20 s away, so the next calls go to the
// other key (without the headers the cursor would give the first key every other call),
// and the first key is sent nothing before its reset.
TEST_F(BalancerTest, ExhaustedHeadersPaceAnUnlimitedKeyBeforeAny429) {
  make(kTwoKeys);
  submitModel("m");
  loop_.runReady();
  const std::string first_auth = http_.request(0).headers.back().value;
  http_.reply(0, 200, okBody("ok", "m"),
              {{"x-ratelimit-remaining-requests", "0"}, {"x-ratelimit-reset-requests", "20s"}});
  loop_.runReady();
  expectKeyRestsThenReturns(first_auth, 4, 4s, 4s);
}

// The provider's "remaining" already counts this call's real usage: the refund of the
// unused estimate must not be added on top of it.
TEST_F(BalancerTest, HeaderRemainingIsTheLevelAfterTheRefundNotBeforeIt) {
  make(R"(
endpoints:
  - {name: e, url: "http://e/v1", models: [m], max_tokens: 500, limits: {m: {tpm: 10000}}}
)");
  submitModel("m");
  loop_.runReady();
  http_.reply(0, 200, okBody("ok", "m"),  // usage 150 of the ~500 reserved
              {{"x-ratelimit-remaining-tokens", "9000"}, {"x-ratelimit-reset-tokens", "6s"}});
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  const auto stats = balancer_->stats();
  EXPECT_DOUBLE_EQ(stats["endpoints"][0]["models"][0]["buckets"][0]["tpm_level"].get<double>(),
                   9000.0);
}

// Anthropic's token headers, with an RFC 3339 reset, on an Anthropic endpoint with one
// key: the next call waits for the reset (a timer, no send) instead of earning a 429.
TEST_F(BalancerTest, AnthropicTokenHeadersMakeTheNextCallWaitForTheReset) {
  make(R"(
timeout: 120
max_queue_wait: 90
endpoints:
  - {name: claude, url: "http://claude/v1", provider: anthropic, models: [c], api_key_env: KEY_A}
)");
  loop_.setWall(WallTime{std::chrono::sys_days{std::chrono::year{2024} / 5 / 1}} + 12h);
  submitModel("c");
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  http_.reply(0, 200,
              R"({"model":"c","content":[{"type":"text","text":"a"}],"stop_reason":"end_turn",)"
              R"("usage":{"input_tokens":7,"output_tokens":2}})",
              {{"anthropic-ratelimit-tokens-remaining", "10"},
               {"anthropic-ratelimit-tokens-reset", "2024-05-01T12:00:30Z"}});
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  submitModel("c");  // needs far more than 10 tokens (prompt estimate + max_tokens)
  loop_.runReady();
  EXPECT_EQ(http_.count(), 1u) << "held: the provider said 10 tokens are left";
  loop_.advance(29'999ms);
  EXPECT_EQ(http_.count(), 1u);
  loop_.advance(1ms);
  EXPECT_EQ(http_.count(), 2u) << "sent at the reset, not before";
}

TEST_F(BalancerTest, InvalidKeyIsTakenOutAndReported) {
  make(kTwoKeys);
  submitModel("m");
  loop_.runReady();
  http_.reply(0, 401, R"({"error":{"message":"Incorrect API key"}})");
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  http_.reply(1, 200, okBody("ok", "m"));
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  const auto stats = balancer_->stats();
  int invalid = 0;
  for (const auto& k : stats["endpoints"][0]["keys"]) invalid += k["invalid"].get<bool>() ? 1 : 0;
  EXPECT_EQ(invalid, 1);
  EXPECT_EQ(stats.dump().find("sk-"), std::string::npos) << "no secret in stats";
}

}  // namespace
}  // namespace celeriac::balancer
