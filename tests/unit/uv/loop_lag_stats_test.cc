#include "worker/uv/loop_lag_stats.h"

#include <gtest/gtest.h>

namespace celeriac::worker::uv {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(LoopLagStatsTest, EmptyIntervalIsAllZero) {
  LoopLagStats stats;
  const LoopLagSummary s = stats.summary();
  EXPECT_EQ(s.samples, 0u);
  EXPECT_EQ(s.p50, microseconds(0));
  EXPECT_EQ(s.p99, microseconds(0));
  EXPECT_EQ(s.max, microseconds(0));
}

TEST(LoopLagStatsTest, PercentilesByNearestRank) {
  LoopLagStats stats;
  // 1..100 ms in shuffled order: p50 is the 50th smallest, p99 the 99th.
  for (int i = 0; i < 100; ++i) stats.record(milliseconds((i * 37) % 100 + 1));
  const LoopLagSummary s = stats.summary();
  EXPECT_EQ(s.samples, 100u);
  EXPECT_EQ(s.p50, milliseconds(50));
  EXPECT_EQ(s.p99, milliseconds(99));
  EXPECT_EQ(s.max, milliseconds(100));
}

TEST(LoopLagStatsTest, OneStallShowsInMaxAndInP99OnlyWhenItIsMoreThanOnePercent) {
  LoopLagStats stats;
  for (int i = 0; i < 199; ++i) stats.record(microseconds(300));
  stats.record(milliseconds(900));  // one loop turn held for 0.9 s
  LoopLagSummary s = stats.summary();
  EXPECT_EQ(s.p99, microseconds(300));
  EXPECT_EQ(s.max, milliseconds(900));
  stats.record(milliseconds(900));
  stats.record(milliseconds(900));  // 3 of 202 samples: over 1 %
  s = stats.summary();
  EXPECT_EQ(s.p99, milliseconds(900));
}

TEST(LoopLagStatsTest, EarlyTicksCountAsZero) {
  LoopLagStats stats;
  stats.record(microseconds(-800));
  EXPECT_EQ(stats.summary().max, microseconds(0));
}

TEST(LoopLagStatsTest, TakeStartsANewInterval) {
  LoopLagStats stats;
  stats.record(milliseconds(40));
  EXPECT_EQ(stats.take().max, milliseconds(40));
  EXPECT_EQ(stats.size(), 0u);
  stats.record(milliseconds(2));
  EXPECT_EQ(stats.take().max, milliseconds(2));
}

}  // namespace
}  // namespace celeriac::worker::uv
