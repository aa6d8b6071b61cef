// Celery's retry_backoff countdowns and autoretry_for matching (celery/auto_retry.h).
#include "worker/celery/auto_retry.h"

#include <gtest/gtest.h>

namespace celeriac::worker::celery {
namespace {

using std::chrono::seconds;

// Values of celery.utils.time.get_exponential_backoff_interval(factor, retries, maximum)
// in Celery 5.2.6 without jitter.
TEST(ExponentialBackoffTest, DoublesPerRetryFromTheFactor) {
  EXPECT_EQ(exponentialBackoff(1, 0, 600, false, 0), seconds(1));
  EXPECT_EQ(exponentialBackoff(1, 1, 600, false, 0), seconds(2));
  EXPECT_EQ(exponentialBackoff(1, 2, 600, false, 0), seconds(4));
  EXPECT_EQ(exponentialBackoff(3, 3, 600, false, 0), seconds(24));
}

TEST(ExponentialBackoffTest, IsCappedAtTheMaximumAndNeverOverflows) {
  EXPECT_EQ(exponentialBackoff(1, 10, 600, false, 0), seconds(600));
  EXPECT_EQ(exponentialBackoff(2, 1000, 60, false, 0), seconds(60));
  EXPECT_EQ(exponentialBackoff(86400, 39, 31'536'000, false, 0), seconds(31'536'000));
}

TEST(ExponentialBackoffTest, ZeroFactorIsNoWait) {
  EXPECT_EQ(exponentialBackoff(0, 5, 600, false, 0), seconds(0));
}

TEST(ExponentialBackoffTest, FullJitterPicksFromZeroToTheCountdownInclusive) {
  // random.randrange(countdown + 1): 0 .. countdown.
  EXPECT_EQ(exponentialBackoff(1, 3, 600, true, 0), seconds(0));
  EXPECT_EQ(exponentialBackoff(1, 3, 600, true, 8), seconds(8));
  EXPECT_EQ(exponentialBackoff(1, 3, 600, true, 9), seconds(0));
  EXPECT_EQ(exponentialBackoff(1, 3, 600, true, 5), seconds(5));
  EXPECT_EQ(exponentialBackoff(1, 20, 600, true, 600), seconds(600));
}

TEST(AutoRetryMatchesTest, MatchesByBareOrQualifiedNameOrException) {
  const ExceptionInfo timeout{"LlmTimeout", "celeriac.errors", nlohmann::json::array(), {}};
  const ExceptionInfo value{"ValueError", "builtins", nlohmann::json::array(), {}};
  EXPECT_TRUE(autoRetryMatches({"LlmTimeout"}, timeout));
  EXPECT_TRUE(autoRetryMatches({"celeriac.errors.LlmTimeout"}, timeout));
  EXPECT_TRUE(autoRetryMatches({"builtins.ValueError"}, value));
  EXPECT_TRUE(autoRetryMatches({"Exception"}, timeout));
  EXPECT_TRUE(autoRetryMatches({"KeyError", "ValueError"}, value));
  EXPECT_FALSE(autoRetryMatches({"KeyError"}, value));
  EXPECT_FALSE(autoRetryMatches({"other.LlmTimeout"}, timeout));
  EXPECT_FALSE(autoRetryMatches({}, value));
}

}  // namespace
}  // namespace celeriac::worker::celery
