#include "providers/time_formats.h"

#include <gtest/gtest.h>

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;

TEST(TimeFormatsTest, ParsesGoDurationsAsOpenAiSendsThem) {
  EXPECT_EQ(parseGoDuration("6m0s"), std::chrono::nanoseconds(6min));
  EXPECT_EQ(parseGoDuration("1m30.5s"), std::chrono::nanoseconds(90500ms));
  EXPECT_EQ(parseGoDuration("20ms"), std::chrono::nanoseconds(20ms));
  EXPECT_EQ(parseGoDuration("1s"), std::chrono::nanoseconds(1s));
  EXPECT_EQ(parseGoDuration("0s"), std::chrono::nanoseconds(0));
  EXPECT_EQ(parseGoDuration("1h2m3s"), std::chrono::nanoseconds(1h + 2min + 3s));
  EXPECT_EQ(parseGoDuration("250us"), std::chrono::nanoseconds(250us));
  EXPECT_EQ(parseGoDuration("7\xC2\xB5s"), std::chrono::nanoseconds(7us));
  EXPECT_EQ(parseGoDuration("0.5s"), std::chrono::nanoseconds(500ms));
}

TEST(TimeFormatsTest, RejectsMalformedGoDurations) {
  EXPECT_FALSE(parseGoDuration(""));
  EXPECT_FALSE(parseGoDuration("-1s"));
  EXPECT_FALSE(parseGoDuration("5"));
  EXPECT_FALSE(parseGoDuration("s"));
  EXPECT_FALSE(parseGoDuration("1x"));
  EXPECT_FALSE(parseGoDuration("1m30"));
}

TEST(TimeFormatsTest, ParsesRfc3339WithZuluFractionAndOffset) {
  using namespace std::chrono;
  const WallTime base = sys_days{2024y / May / 1} + 12h;
  EXPECT_EQ(parseRfc3339("2024-05-01T12:00:30Z"), base + 30s);
  EXPECT_EQ(parseRfc3339("2024-05-01T12:00:30.25Z"), base + 30250ms);
  EXPECT_EQ(parseRfc3339("2024-05-01T14:00:30+02:00"), base + 30s);
  EXPECT_EQ(parseRfc3339("2024-05-01T11:30:30-00:30"), base + 30s);
}

TEST(TimeFormatsTest, RejectsMalformedRfc3339) {
  EXPECT_FALSE(parseRfc3339("2024-05-01 12:00:30"));
  EXPECT_FALSE(parseRfc3339("2024-13-01T12:00:30Z"));
  EXPECT_FALSE(parseRfc3339("2024-02-30T12:00:30Z"));
  EXPECT_FALSE(parseRfc3339("2024-05-01T12:00:30Zjunk"));
  EXPECT_FALSE(parseRfc3339(""));
}

// Found by tests/fuzz (rate_limit_fuzz): a year past 2262 overflowed the nanosecond
// time point (signed overflow, UB) instead of being refused.
TEST(TimeFormatsTest, RejectsYearsAWallTimeCannotHold) {
  using namespace std::chrono;
  EXPECT_FALSE(parseRfc3339("6991-05-01T12:00:20Z"));
  EXPECT_FALSE(parseRfc3339("9999-12-31T23:59:59Z"));
  EXPECT_FALSE(parseRfc3339("0000-01-01T00:00:00Z"));
  EXPECT_FALSE(parseHttpDate("Fri, 31 Dec 9999 23:59:59 GMT"));
  EXPECT_FALSE(parseHttpDate("Sat, 01 Jan 0000 00:00:00 GMT"));
  EXPECT_EQ(parseRfc3339("2261-12-31T23:59:59Z"),
            WallTime{sys_days{2261y / December / 31} + 23h + 59min + 59s});
}

TEST(TimeFormatsTest, RejectsRfc3339OffsetsOutOfRange) {
  EXPECT_FALSE(parseRfc3339("2024-05-01T12:00:30+24:00"));
  EXPECT_FALSE(parseRfc3339("2024-05-01T12:00:30-99:99"));
  EXPECT_TRUE(parseRfc3339("2024-05-01T12:00:30+23:59"));
}

TEST(TimeFormatsTest, ParsesImfFixdateHttpDate) {
  using namespace std::chrono;
  EXPECT_EQ(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"),
            WallTime{sys_days{1994y / November / 6} + 8h + 49min + 37s});
  EXPECT_FALSE(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"));
  EXPECT_FALSE(parseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT"));
}

TEST(TimeFormatsTest, ParsesDecimalSeconds) {
  EXPECT_EQ(parseDecimalSeconds("30"), 30s);
  EXPECT_EQ(parseDecimalSeconds(" 1.5 "), 1500ms);
  EXPECT_FALSE(parseDecimalSeconds("-1"));
  EXPECT_FALSE(parseDecimalSeconds("1e3"));
  EXPECT_FALSE(parseDecimalSeconds(""));
}

}  // namespace
}  // namespace celeriac::balancer
