#pragma once
// CostStrategy: the cheapest candidate per token; among equally cheap ones, the fewest
// in flight, then in turn. For routes where price matters more than speed. Prices come
// from the config's pricing table (Candidate::cost_per_mtok). Owned by a Balancer.

#include "routing/strategy.h"

namespace celeriac::balancer {

class CostStrategy final : public Strategy {
 public:
  [[nodiscard]] std::size_t pick(std::span<const Candidate> candidates) override;
  [[nodiscard]] StrategyKind kind() const override { return StrategyKind::kCost; }

 private:
  std::size_t rotation_ = 0;
};

}  // namespace celeriac::balancer
