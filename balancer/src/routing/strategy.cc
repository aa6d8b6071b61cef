#include "routing/strategy.h"

#include "routing/cost_strategy.h"
#include "routing/latency_strategy.h"
#include "routing/least_connections_strategy.h"
#include "routing/random_strategy.h"
#include "routing/round_robin_strategy.h"
#include "routing/weighted_strategy.h"

namespace celeriac::balancer {

std::string_view toString(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::kRoundRobin:
      return "round_robin";
    case StrategyKind::kWeighted:
      return "weighted";
    case StrategyKind::kLeastConnections:
      return "least_connections";
    case StrategyKind::kRandom:
      return "random";
    case StrategyKind::kLatency:
      return "latency";
    case StrategyKind::kCost:
      return "cost";
  }
  return "unknown";
}

std::optional<StrategyKind> parseStrategyKind(std::string_view name) {
  for (StrategyKind k :
       {StrategyKind::kRoundRobin, StrategyKind::kWeighted, StrategyKind::kLeastConnections,
        StrategyKind::kRandom, StrategyKind::kLatency, StrategyKind::kCost}) {
    if (toString(k) == name) return k;
  }
  return std::nullopt;
}

std::unique_ptr<Strategy> makeStrategy(StrategyKind kind, std::uint64_t seed) {
  switch (kind) {
    case StrategyKind::kRoundRobin:
      return std::make_unique<RoundRobinStrategy>();
    case StrategyKind::kWeighted:
      return std::make_unique<WeightedStrategy>();
    case StrategyKind::kLeastConnections:
      return std::make_unique<LeastConnectionsStrategy>();
    case StrategyKind::kRandom:
      return std::make_unique<RandomStrategy>(seed);
    case StrategyKind::kLatency:
      return std::make_unique<LatencyStrategy>(seed);
    case StrategyKind::kCost:
      return std::make_unique<CostStrategy>();
  }
  return std::make_unique<RoundRobinStrategy>();
}

}  // namespace celeriac::balancer
