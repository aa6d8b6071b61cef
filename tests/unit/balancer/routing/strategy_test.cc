#include "routing/strategy.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "health/peak_ewma.h"
#include "manual_clock.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;

std::vector<Candidate> withWeights(std::vector<double> weights) {
  std::vector<Candidate> out;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    Candidate c;
    c.id = static_cast<std::uint32_t>(i);
    c.weight = weights[i];
    out.push_back(c);
  }
  return out;
}

std::map<std::uint32_t, int> countPicks(Strategy& s, const std::vector<Candidate>& cs, int n) {
  std::map<std::uint32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[cs[s.pick(cs)].id];
  return counts;
}

TEST(StrategyKindTest, ParsesSeedNames) {
  EXPECT_EQ(parseStrategyKind("round_robin"), StrategyKind::kRoundRobin);
  EXPECT_EQ(parseStrategyKind("weighted"), StrategyKind::kWeighted);
  EXPECT_EQ(parseStrategyKind("least_connections"), StrategyKind::kLeastConnections);
  EXPECT_EQ(parseStrategyKind("random"), StrategyKind::kRandom);
  EXPECT_EQ(parseStrategyKind("latency"), StrategyKind::kLatency);
  EXPECT_EQ(parseStrategyKind("cost"), StrategyKind::kCost);
  EXPECT_FALSE(parseStrategyKind("fastest"));
}

TEST(RoundRobinStrategyTest, CyclesThroughCandidates) {
  auto s = makeStrategy(StrategyKind::kRoundRobin, 0);
  const auto cs = withWeights({1, 5, 1});
  const auto counts = countPicks(*s, cs, 300);
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 100) << id;
}

TEST(WeightedStrategyTest, SplitsWithinOnePercentOverTenThousandPicks) {
  auto s = makeStrategy(StrategyKind::kWeighted, 0);
  const auto cs = withWeights({2, 1, 3, 4});  // 20 % / 10 % / 30 % / 40 %
  const auto counts = countPicks(*s, cs, 10000);
  EXPECT_NEAR(counts.at(0), 2000, 100);
  EXPECT_NEAR(counts.at(1), 1000, 100);
  EXPECT_NEAR(counts.at(2), 3000, 100);
  EXPECT_NEAR(counts.at(3), 4000, 100);
}

TEST(WeightedStrategyTest, WeightTwoGetsTwiceTheRequests) {
  auto s = makeStrategy(StrategyKind::kWeighted, 0);
  const auto counts = countPicks(*s, withWeights({2, 1}), 9000);
  EXPECT_EQ(counts.at(0), 6000);
  EXPECT_EQ(counts.at(1), 3000);
}

TEST(WeightedStrategyTest, InterleavesInsteadOfBursting) {
  auto s = makeStrategy(StrategyKind::kWeighted, 0);
  const auto cs = withWeights({5, 1, 1});
  std::vector<std::uint32_t> seq;
  for (int i = 0; i < 7; ++i) seq.push_back(cs[s->pick(cs)].id);
  EXPECT_EQ(seq, (std::vector<std::uint32_t>{0, 0, 1, 0, 2, 0, 0}));
}

TEST(WeightedStrategyTest, IsDeterministic) {
  auto a = makeStrategy(StrategyKind::kWeighted, 1);
  auto b = makeStrategy(StrategyKind::kWeighted, 2);
  const auto cs = withWeights({3, 2, 1.5});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a->pick(cs), b->pick(cs));
}

TEST(WeightedStrategyTest, SurvivesCandidatesDroppingOut) {
  auto s = makeStrategy(StrategyKind::kWeighted, 0);
  auto cs = withWeights({1, 1, 1});
  (void)countPicks(*s, cs, 10);
  cs.erase(cs.begin() + 1);
  const auto counts = countPicks(*s, cs, 1000);
  EXPECT_NEAR(counts.at(0), 500, 2);
  EXPECT_NEAR(counts.at(2), 500, 2);
}

TEST(LeastConnectionsStrategyTest, PicksFewestInFlight) {
  auto s = makeStrategy(StrategyKind::kLeastConnections, 0);
  auto cs = withWeights({1, 1, 1});
  cs[0].in_flight = 4;
  cs[1].in_flight = 1;
  cs[2].in_flight = 7;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s->pick(cs), 1u);
}

TEST(LeastConnectionsStrategyTest, TiesRotate) {
  auto s = makeStrategy(StrategyKind::kLeastConnections, 0);
  auto cs = withWeights({1, 1, 1});
  const auto counts = countPicks(*s, cs, 300);
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 100) << id;
}

TEST(LeastConnectionsStrategyTest, BalancesWhenCallersTrackInFlight) {
  auto s = makeStrategy(StrategyKind::kLeastConnections, 0);
  auto cs = withWeights({1, 1, 1, 1});
  for (int i = 0; i < 40; ++i) ++cs[s->pick(cs)].in_flight;
  for (const auto& c : cs) EXPECT_EQ(c.in_flight, 10u);
}

TEST(RandomStrategyTest, SameSeedSamePicksAndRoughlyUniform) {
  auto a = makeStrategy(StrategyKind::kRandom, 42);
  auto b = makeStrategy(StrategyKind::kRandom, 42);
  const auto cs = withWeights({1, 1, 1, 1});
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 40000; ++i) {
    const auto pa = a->pick(cs);
    ASSERT_EQ(pa, b->pick(cs));
    ++counts[pa];
  }
  for (const auto& [i, n] : counts) EXPECT_NEAR(n, 10000, 400) << i;
}

TEST(LatencyStrategyTest, PrefersFastAndIdleEndpoints) {
  auto s = makeStrategy(StrategyKind::kLatency, 7);
  auto cs = withWeights({1, 1, 1, 1});
  cs[0].latency_us = 100'000;
  cs[1].latency_us = 1'000'000;
  cs[2].latency_us = 1'000'000;
  cs[3].latency_us = 1'000'000;
  const auto counts = countPicks(*s, cs, 10000);
  // Endpoint 0 wins every pair it is drawn into: 1 - (3/4 x 2/3) = 1/2 of picks.
  EXPECT_NEAR(counts.at(0), 5000, 300);
  cs[0].in_flight = 20;  // fast but swamped: 100 ms x 21 > 1 s x 1
  const auto after = countPicks(*s, cs, 1000);
  EXPECT_EQ(after.count(0), 0u);
}

TEST(LatencyStrategyTest, NeverPicksTheSameCandidateTwiceInAPair) {
  auto s = makeStrategy(StrategyKind::kLatency, 3);
  auto cs = withWeights({1, 1});
  cs[0].latency_us = 10;
  cs[1].latency_us = 20;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s->pick(cs), 0u);
}

TEST(CostStrategyTest, PicksCheapestThenLeastLoaded) {
  auto s = makeStrategy(StrategyKind::kCost, 0);
  auto cs = withWeights({1, 1, 1});
  cs[0].cost_per_mtok = 5;
  cs[1].cost_per_mtok = 1;
  cs[2].cost_per_mtok = 1;
  cs[1].in_flight = 3;
  EXPECT_EQ(s->pick(cs), 2u);
}

TEST(PeakEwmaTest, JumpsUpAtOnceAndDecaysSlowly) {
  celeriac::testing::ManualClock clock;
  PeakEwma ewma(10s);
  ewma.observe(100ms, clock.now());
  EXPECT_DOUBLE_EQ(ewma.micros(), 100'000);
  clock.advance(1s);
  ewma.observe(900ms, clock.now());
  EXPECT_DOUBLE_EQ(ewma.micros(), 900'000);
  clock.advance(10s);
  ewma.observe(100ms, clock.now());
  // One decay constant later, e^-1 of the old value remains.
  EXPECT_NEAR(ewma.micros(), 100'000 + 800'000 * 0.36787944, 1);
}

}  // namespace
}  // namespace celeriac::balancer
