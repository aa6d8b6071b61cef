#include "providers/rate_limit_info.h"

#include <gtest/gtest.h>

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;

const WallTime kWallNow =
    WallTime{std::chrono::sys_days{std::chrono::year{2024} / std::chrono::May / 1}} + 12h;

TEST(RetryAfterTest, ParsesDelaySeconds) {
  EXPECT_EQ(parseRetryAfter({{"Retry-After", "30"}}, kWallNow), 30s);
}

TEST(RetryAfterTest, TakesTheLaterOfRetryAfterMsAndSeconds) {
  EXPECT_EQ(parseRetryAfter({{"retry-after", "2"}, {"retry-after-ms", "1500"}}, kWallNow), 2s);
  EXPECT_EQ(parseRetryAfter({{"retry-after", "1"}, {"retry-after-ms", "1500"}}, kWallNow), 1500ms);
  EXPECT_EQ(parseRetryAfter({{"retry-after-ms", "250"}}, kWallNow), 250ms);
}

TEST(RetryAfterTest, TakesTheLaterOfRetryAfterMsAndAnHttpDate) {
  EXPECT_EQ(
      parseRetryAfter(
          {{"retry-after-ms", "1500"}, {"Retry-After", "Wed, 01 May 2024 12:00:15 GMT"}}, kWallNow),
      15s);
}

TEST(RetryAfterTest, ParsesHttpDateRelativeToWallClock) {
  EXPECT_EQ(parseRetryAfter({{"Retry-After", "Wed, 01 May 2024 12:00:15 GMT"}}, kWallNow), 15s);
}

TEST(RetryAfterTest, HttpDateInThePastMeansNoWait) {
  EXPECT_EQ(parseRetryAfter({{"Retry-After", "Wed, 01 May 2024 11:00:00 GMT"}}, kWallNow), 0ms);
}

TEST(RetryAfterTest, GarbageIsIgnored) {
  EXPECT_FALSE(parseRetryAfter({{"Retry-After", "soon"}}, kWallNow));
  EXPECT_FALSE(parseRetryAfter({}, kWallNow));
}

TEST(RateLimitInfoTest, ParsesOpenAiHeaders) {
  const auto info = parseRateLimitHeaders({{"x-ratelimit-limit-requests", "500"},
                                           {"x-ratelimit-remaining-requests", "499"},
                                           {"x-ratelimit-reset-requests", "120ms"},
                                           {"X-RateLimit-Remaining-Tokens", "149000"},
                                           {"x-ratelimit-reset-tokens", "6m0s"}},
                                          kWallNow);
  EXPECT_EQ(info.limit_requests, 500);
  EXPECT_EQ(info.remaining_requests, 499);
  EXPECT_EQ(info.reset_requests, 120ms);
  EXPECT_EQ(info.remaining_tokens, 149000);
  EXPECT_EQ(info.reset_tokens, 6min);
  EXPECT_FALSE(info.retry_after);
}

TEST(RateLimitInfoTest, ParsesAnthropicHeadersWithRfc3339Resets) {
  const auto info =
      parseRateLimitHeaders({{"anthropic-ratelimit-requests-remaining", "0"},
                             {"anthropic-ratelimit-requests-reset", "2024-05-01T12:00:20Z"},
                             {"anthropic-ratelimit-tokens-remaining", "5000"},
                             {"anthropic-ratelimit-input-tokens-remaining", "3000"},
                             {"anthropic-ratelimit-tokens-reset", "2024-05-01T12:01:00Z"}},
                            kWallNow);
  EXPECT_EQ(info.remaining_requests, 0);
  EXPECT_EQ(info.reset_requests, 20s);
  EXPECT_EQ(info.remaining_tokens, 3000);  // the tightest token limit governs
  EXPECT_EQ(info.reset_tokens, 60s);
}

TEST(RateLimitInfoTest, PauseAfter429TakesTheLatestOfRetryAfterAndExhaustedResets) {
  const auto info = parseRateLimitHeaders({{"retry-after", "5"},
                                           {"x-ratelimit-remaining-requests", "0"},
                                           {"x-ratelimit-reset-requests", "20s"},
                                           {"x-ratelimit-remaining-tokens", "100"},
                                           {"x-ratelimit-reset-tokens", "1m"}},
                                          kWallNow);
  // Tokens are not exhausted, so their longer reset does not count.
  EXPECT_EQ(info.pauseAfter429(), 20s);
}

TEST(RateLimitInfoTest, PauseAfter429CountsAResetWhoseRemainingIsNotReported) {
  const auto info = parseRateLimitHeaders(
      {{"retry-after", "5"}, {"x-ratelimit-reset-tokens", "1m30.5s"}}, kWallNow);
  EXPECT_EQ(info.pauseAfter429(), 90500ms);
}

TEST(RateLimitInfoTest, PauseAfter429TakesAnAnthropicResetWhenItIsLaterThanRetryAfter) {
  const auto info =
      parseRateLimitHeaders({{"retry-after", "5"},
                             {"anthropic-ratelimit-requests-remaining", "0"},
                             {"anthropic-ratelimit-requests-reset", "2024-05-01T12:00:40Z"}},
                            kWallNow);
  EXPECT_EQ(info.pauseAfter429(), 40s);
}

// Found by tests/fuzz (rate_limit_fuzz, crashers/rate_limit/rfc3339_year_6991): a reset
// in a year a WallTime cannot hold overflowed (UB); such a header is now ignored.
TEST(RateLimitInfoTest, IgnoresResetsInYearsAWallTimeCannotHold) {
  const auto info =
      parseRateLimitHeaders({{"anthropic-ratelimit-requests-reset", "6991-05-01T12:00:20Z"},
                             {"anthropic-ratelimit-tokens-reset", "2024-05-01T12:01:00Z"},
                             {"retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"}},
                            kWallNow);
  EXPECT_FALSE(info.reset_requests);
  EXPECT_EQ(info.reset_tokens, 60s);
  EXPECT_FALSE(info.retry_after);
}

}  // namespace
}  // namespace celeriac::balancer
