#include "worker/celery/iso_time.h"

#include <gtest/gtest.h>

namespace celeriac::worker::celery {
namespace {

using std::chrono::system_clock;

// 2026-11-22T23:59:29 UTC as a time point.
system_clock::time_point referenceTime() {
  return std::chrono::sys_days(std::chrono::year(2026) / 11 / 22) + std::chrono::hours(23) +
         std::chrono::minutes(59) + std::chrono::seconds(29);
}

TEST(IsoTimeTest, ParsesPythonIsoformatWithMicrosAndOffset) {
  const auto parsed = parseIsoTime("2026-11-22T23:59:29.886040+00:00");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, referenceTime() + std::chrono::microseconds(886040));
}

TEST(IsoTimeTest, ParsesWithoutFractionAsPythonOmitsZeroMicros) {
  EXPECT_EQ(parseIsoTime("2026-11-22T23:59:29+00:00"), referenceTime());
}

TEST(IsoTimeTest, NaiveIsUtc) { EXPECT_EQ(parseIsoTime("2026-11-22T23:59:29"), referenceTime()); }

TEST(IsoTimeTest, AcceptsZSuffixAndSpaceSeparator) {
  EXPECT_EQ(parseIsoTime("2026-11-22T23:59:29Z"), referenceTime());
  EXPECT_EQ(parseIsoTime("2026-11-22 23:59:29"), referenceTime());
}

TEST(IsoTimeTest, FractionIsDecimalNotLiteralMicros) {
  // Celery <= 5.2 misread ".123" as 123 us; it is 123 ms.
  EXPECT_EQ(parseIsoTime("2026-11-22T23:59:29.123Z"),
            referenceTime() + std::chrono::milliseconds(123));
  EXPECT_EQ(parseIsoTime("2026-11-22T23:59:29.1Z"),
            referenceTime() + std::chrono::milliseconds(100));
  EXPECT_EQ(parseIsoTime("2026-11-22T23:59:29.123456789Z"),
            referenceTime() + std::chrono::nanoseconds(123456789));
}

TEST(IsoTimeTest, AppliesPositiveAndNegativeOffsets) {
  EXPECT_EQ(parseIsoTime("2026-11-23T00:59:29+01:00"), referenceTime());
  EXPECT_EQ(parseIsoTime("2026-11-22T18:29:29-05:30"), referenceTime());
  EXPECT_EQ(parseIsoTime("2026-11-23T00:59:29+0100"), referenceTime());
  EXPECT_EQ(parseIsoTime("2026-11-23T00:59:29+01"), referenceTime());
}

TEST(IsoTimeTest, AcceptsMissingSeconds) {
  EXPECT_EQ(parseIsoTime("2026-11-22T23:59Z"), referenceTime() - std::chrono::seconds(29));
}

TEST(IsoTimeTest, AcceptsLeapDayOnlyInLeapYears) {
  EXPECT_TRUE(parseIsoTime("2024-02-29T00:00:00"));
  EXPECT_FALSE(parseIsoTime("2026-02-29T00:00:00"));
}

TEST(IsoTimeTest, RejectsMalformedAndOutOfRange) {
  for (const char* bad : {"",
                          "now",
                          "2026-11-22",
                          "2026-11-22T",
                          "2026-13-01T00:00:00",
                          "2026-11-31T00:00:00",
                          "2026-11-22T24:00:00",
                          "2026-11-22T23:60:00",
                          "2026-11-22T23:59:60",
                          "2026-11-22T23:59:29.",
                          "2026-11-22T23:59:29.1234567890",
                          "2026-11-22T23:59:29+24:00",
                          "2026-11-22T23:59:29+01:60",
                          "2026-11-22T23:59:29+1",
                          "2026-11-22T23:59:29 ",
                          "2026/11/22T23:59:29",
                          "26-11-22T23:59:29",
                          "2026-11-22T23:59:29UTC",
                          "1795392027",
                          "2026-11-22T23:59:29+00:00x",
                          "2026-1-22T23:59:29"}) {
    EXPECT_FALSE(parseIsoTime(bad)) << bad;
  }
}

// Found by tests/fuzz (message_decoder_fuzz, crashers/message_decoder/expires_year_0751):
// a year outside 1677..2262 overflowed the nanosecond time point (signed overflow, UB).
// Python accepts years 1 to 9999; both ends are clamped, the fraction dropped there.
TEST(IsoTimeTest, ClampsYearsASystemClockCannotHold) {
  using std::chrono::sys_days;
  using std::chrono::year;
  const system_clock::time_point earliest{sys_days(year(1900) / 1 / 1)};
  const system_clock::time_point latest{sys_days(year(2200) / 1 / 1)};
  EXPECT_EQ(parseIsoTime("0751-11-23T00:11:56Z"), earliest);
  EXPECT_EQ(parseIsoTime("0001-01-01T00:00:00"), earliest);
  EXPECT_EQ(parseIsoTime("1899-12-31T23:59:59.999999"), earliest);
  EXPECT_EQ(parseIsoTime("9999-12-31T23:59:59.999999+00:00"), latest);
  EXPECT_EQ(parseIsoTime("2200-01-01T00:00:00"), latest);
  EXPECT_EQ(parseIsoTime("2199-12-31T23:00:00-01:00"), latest);
  EXPECT_EQ(parseIsoTime("2199-12-31T23:59:59.5"), latest - std::chrono::milliseconds(500));
  EXPECT_EQ(parseIsoTime("1900-01-01T01:00:00+01:00"), earliest);
  EXPECT_FALSE(parseIsoTime("0000-01-01T00:00:00"));  // no year 0 in Python
}

TEST(IsoTimeTest, FormatsUtcWithSixFractionDigits) {
  EXPECT_EQ(formatIsoTime(referenceTime() + std::chrono::microseconds(886040)),
            "2026-11-22T23:59:29.886040+00:00");
  EXPECT_EQ(formatIsoTime(referenceTime()), "2026-11-22T23:59:29.000000+00:00");
  EXPECT_EQ(formatIsoTime(system_clock::time_point{}), "1970-01-01T00:00:00.000000+00:00");
}

TEST(IsoTimeTest, FormatTruncatesBelowMicroseconds) {
  EXPECT_EQ(formatIsoTime(referenceTime() + std::chrono::nanoseconds(999)),
            "2026-11-22T23:59:29.000000+00:00");
}

TEST(IsoTimeTest, FormatsTimesBeforeTheEpoch) {
  const auto before = system_clock::time_point{} - std::chrono::microseconds(1);
  EXPECT_EQ(formatIsoTime(before), "1969-12-31T23:59:59.999999+00:00");
}

TEST(IsoTimeTest, RoundTripsAtMicrosecondPrecision) {
  for (long long micros : {0LL, 1LL, 999999LL, 1795392027909514LL, 4102444799999999LL}) {
    const system_clock::time_point time{std::chrono::microseconds(micros)};
    EXPECT_EQ(parseIsoTime(formatIsoTime(time)), time) << micros;
  }
}

}  // namespace
}  // namespace celeriac::worker::celery
