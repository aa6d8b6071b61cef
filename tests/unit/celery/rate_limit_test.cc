#include "worker/celery/rate_limit.h"

#include <gtest/gtest.h>

namespace celeriac::worker::celery {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyTime = TaskRateLimiter::SteadyTime;

double perSecond(std::string_view text) {
  const auto parsed = parseRateLimit(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.error().message;
  return parsed.ok() ? parsed->tasks_per_second : -1;
}

RateLimit limit(std::string_view text) { return parseRateLimit(text).value(); }

// Values checked against celery.utils.time.rate() of Celery 5.2.6.
TEST(RateLimitTest, ParsesCeleryRateStrings) {
  EXPECT_DOUBLE_EQ(perSecond("10/m"), 10.0 / 60.0);
  EXPECT_DOUBLE_EQ(perSecond("100/s"), 100.0);
  EXPECT_DOUBLE_EQ(perSecond("5/h"), 5.0 / 3600.0);
  EXPECT_DOUBLE_EQ(perSecond("2"), 2.0);
  EXPECT_DOUBLE_EQ(perSecond("0.5/s"), 0.5);
  EXPECT_DOUBLE_EQ(perSecond("10/"), 10.0);
  EXPECT_DOUBLE_EQ(perSecond("  3 /m"), 0.05);
  EXPECT_DOUBLE_EQ(perSecond("1e2/m"), 100.0 / 60.0);
  EXPECT_DOUBLE_EQ(perSecond(".5"), 0.5);
  EXPECT_EQ(parseRateLimit("10/m")->text, "10/m");
}

TEST(RateLimitTest, ZeroOrEmptyMeansNoLimit) {
  EXPECT_EQ(perSecond(""), 0.0);
  EXPECT_EQ(perSecond("0"), 0.0);
  EXPECT_EQ(perSecond("0/m"), 0.0);
}

TEST(RateLimitTest, GarbageGivesPythonsErrorRepr) {
  EXPECT_EQ(parseRateLimit("abc").error().message,
            "ValueError(\"could not convert string to float: 'abc'\")");
  EXPECT_EQ(parseRateLimit("/m").error().message,
            "ValueError(\"could not convert string to float: ''\")");
  EXPECT_EQ(parseRateLimit("10/x").error().message, "KeyError('x')");
  EXPECT_EQ(parseRateLimit("10/min").error().message, "KeyError('min')");
  for (const char* bad : {"inf", "nan", "-5/s", "0x10", "1,5", "10/m/s", " "}) {
    const auto parsed = parseRateLimit(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_FALSE(parsed.error().message.empty()) << bad;
  }
}

TEST(TaskRateLimiterTest, UnlimitedTasksAlwaysRun) {
  TaskRateLimiter limiter;
  const SteadyTime now{seconds(100)};
  EXPECT_TRUE(limiter.tryTake("any", now));
  EXPECT_TRUE(limiter.tryTake("any", now));
  EXPECT_EQ(limiter.nextAt("any", now), now);
  EXPECT_FALSE(limiter.limited("any"));
  EXPECT_FALSE(limiter.describe("any"));
}

TEST(TaskRateLimiterTest, CapacityOneStartsFullThenOneTokenPerInterval) {
  TaskRateLimiter limiter;
  const SteadyTime start{seconds(100)};
  limiter.set("rapp.add", limit("10/m"), start);  // one every 6 s
  EXPECT_TRUE(limiter.limited("rapp.add"));
  EXPECT_TRUE(limiter.tryTake("rapp.add", start));
  EXPECT_FALSE(limiter.tryTake("rapp.add", start));
  EXPECT_EQ(limiter.nextAt("rapp.add", start), start + seconds(6));
  EXPECT_FALSE(limiter.tryTake("rapp.add", start + seconds(5)));
  // Rounded up to whole nanoseconds, so it may land a nanosecond late, never early.
  const SteadyTime next = limiter.nextAt("rapp.add", start + seconds(5));
  EXPECT_GE(next, start + seconds(6));
  EXPECT_LE(next, start + seconds(6) + std::chrono::microseconds(1));
  EXPECT_TRUE(limiter.tryTake("rapp.add", start + seconds(6)));
  EXPECT_FALSE(limiter.tryTake("rapp.add", start + seconds(6)));
}

TEST(TaskRateLimiterTest, TakingAtNextAtAlwaysSucceeds) {
  TaskRateLimiter limiter;
  SteadyTime now{seconds(1)};
  limiter.set("t", limit("7/m"), now);  // an interval that is not whole nanoseconds
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(limiter.tryTake("t", now)) << i;
    ASSERT_FALSE(limiter.tryTake("t", now)) << i;
    now = limiter.nextAt("t", now);
  }
}

TEST(TaskRateLimiterTest, IdleBucketHoldsOnlyOneToken) {
  TaskRateLimiter limiter;
  const SteadyTime start{seconds(0)};
  limiter.set("t", limit("1/s"), start);
  const SteadyTime later = start + seconds(3600);
  EXPECT_TRUE(limiter.tryTake("t", later));
  // kombu's TokenBucket would let a second one through here (stale timestamp).
  EXPECT_FALSE(limiter.tryTake("t", later));
  EXPECT_EQ(limiter.nextAt("t", later), later + seconds(1));
}

TEST(TaskRateLimiterTest, BucketsAreIndependentPerTask) {
  TaskRateLimiter limiter;
  const SteadyTime now{seconds(0)};
  limiter.set("a", limit("1/h"), now);
  limiter.set("b", limit("1/h"), now);
  EXPECT_TRUE(limiter.tryTake("a", now));
  EXPECT_TRUE(limiter.tryTake("b", now));
  EXPECT_FALSE(limiter.tryTake("a", now + milliseconds(1)));
}

TEST(TaskRateLimiterTest, SettingAgainRefillsAndClearRemoves) {
  TaskRateLimiter limiter;
  const SteadyTime now{seconds(0)};
  limiter.set("t", limit("1/h"), now);
  EXPECT_TRUE(limiter.tryTake("t", now));
  limiter.set("t", limit("2/h"), now);  // Celery rebuilds buckets full on rate_limit
  EXPECT_TRUE(limiter.tryTake("t", now));
  limiter.clear("t");
  EXPECT_TRUE(limiter.tryTake("t", now));
  EXPECT_FALSE(limiter.describe("t"));
}

TEST(TaskRateLimiterTest, DescribeIsRegisteredsEntry) {
  TaskRateLimiter limiter;
  const SteadyTime now{seconds(0)};
  limiter.set("rapp.add", limit("10/m"), now);
  EXPECT_EQ(limiter.describe("rapp.add"), "rapp.add [rate_limit=10/m]");
  // A zero limit runs unlimited but is still listed with its text, as Python does.
  limiter.set("rapp.mul", limit("0"), now);
  EXPECT_FALSE(limiter.limited("rapp.mul"));
  EXPECT_TRUE(limiter.tryTake("rapp.mul", now));
  EXPECT_TRUE(limiter.tryTake("rapp.mul", now));
  EXPECT_EQ(limiter.describe("rapp.mul"), "rapp.mul [rate_limit=0]");
}

}  // namespace
}  // namespace celeriac::worker::celery
