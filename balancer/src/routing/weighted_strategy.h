#pragma once
// WeightedStrategy: smooth weighted round robin (nginx's algorithm), deterministic.
//
// For: the seed's `weighted` (weight 2 gets twice the requests), interleaved rather than
// in bursts: weights 5,1,1 give a a b a c a a, not a a a a a b c. Each endpoint keeps a
// running "current" weight, indexed by Candidate::id so that it survives candidates
// coming and going. Not random: two replicas with the same config make the same picks,
// which is fine because RabbitMQ spreads the calls between them. Owned by a Balancer.

#include <vector>

#include "routing/strategy.h"

namespace celeriac::balancer {

class WeightedStrategy final : public Strategy {
 public:
  [[nodiscard]] std::size_t pick(std::span<const Candidate> candidates) override;
  [[nodiscard]] StrategyKind kind() const override { return StrategyKind::kWeighted; }

 private:
  std::vector<double> current_;  // by Candidate::id
};

}  // namespace celeriac::balancer
