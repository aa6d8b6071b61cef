// Endpoint selection with 64 candidates, per strategy. Prints figures only; the target
// (under 1 microsecond per pick) is checked by reading the output, never in a test.
#include <benchmark/benchmark.h>

#include <vector>

#include "common/rng.h"
#include "routing/strategy.h"

namespace {

using celeriac::balancer::Candidate;
using celeriac::balancer::StrategyKind;

std::vector<Candidate> makeCandidates(std::size_t n) {
  celeriac::common::Rng rng(1);
  std::vector<Candidate> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i].id = static_cast<std::uint32_t>(i);
    out[i].weight = 1.0 + static_cast<double>(rng.below(8));
    out[i].in_flight = rng.below(16);
    out[i].latency_us = 1000.0 + static_cast<double>(rng.below(100'000));
    out[i].cost_per_mtok = static_cast<double>(rng.below(10));
  }
  return out;
}

void pickBench(benchmark::State& state, StrategyKind kind) {
  auto candidates = makeCandidates(static_cast<std::size_t>(state.range(0)));
  auto strategy = celeriac::balancer::makeStrategy(kind, 42);
  for (auto _ : state) {
    const std::size_t i = strategy->pick(candidates);
    // Feed the pick back, as the Balancer does, so in-flight-aware strategies move.
    ++candidates[i].in_flight;
    if (candidates[i].in_flight > 32) candidates[i].in_flight = 0;
    benchmark::DoNotOptimize(i);
  }
}

}  // namespace

BENCHMARK_CAPTURE(pickBench, round_robin, StrategyKind::kRoundRobin)->Arg(64);
BENCHMARK_CAPTURE(pickBench, weighted, StrategyKind::kWeighted)->Arg(64);
BENCHMARK_CAPTURE(pickBench, least_connections, StrategyKind::kLeastConnections)->Arg(64);
BENCHMARK_CAPTURE(pickBench, random, StrategyKind::kRandom)->Arg(64);
BENCHMARK_CAPTURE(pickBench, latency, StrategyKind::kLatency)->Arg(64);
BENCHMARK_CAPTURE(pickBench, cost, StrategyKind::kCost)->Arg(64);

BENCHMARK_MAIN();
