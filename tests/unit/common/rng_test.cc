#include "common/rng.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace celeriac::common {
namespace {

TEST(RngTest, TheSameSeedGivesTheSameSequence) {
  Rng a(42);
  Rng b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(RngTest, DifferentSeedsGiveDifferentSequences) {
  Rng a(1);
  Rng b(2);
  EXPECT_NE(a.next(), b.next());
}

TEST(RngTest, KnownSplitMix64Values) {
  // The reference outputs of SplitMix64 for seed 0 (Vigna's splitmix64.c).
  Rng r(0);
  EXPECT_EQ(r.next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(r.next(), 0x6E789E6AA1B965F4ULL);
}

TEST(RngTest, BelowStaysInRangeAndReachesEveryValue) {
  Rng r(7);
  std::array<int, 5> seen{};
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t v = r.below(5);
    ASSERT_LT(v, 5U);
    ++seen[v];
  }
  for (int count : seen) EXPECT_GT(count, 0);
}

TEST(RngTest, UnitIsInTheHalfOpenInterval) {
  Rng r(9);
  for (int i = 0; i < 1000; ++i) {
    const double u = r.unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace celeriac::common
