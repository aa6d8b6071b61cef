#pragma once
// RoundRobinStrategy: candidates in turn, ignoring weights and load (the seed's
// `round_robin`). Not for uneven endpoints (use WeightedStrategy). Owned by a Balancer.

#include "routing/strategy.h"

namespace celeriac::balancer {

class RoundRobinStrategy final : public Strategy {
 public:
  [[nodiscard]] std::size_t pick(std::span<const Candidate> candidates) override;
  [[nodiscard]] StrategyKind kind() const override { return StrategyKind::kRoundRobin; }

 private:
  std::size_t cursor_ = 0;
};

}  // namespace celeriac::balancer
