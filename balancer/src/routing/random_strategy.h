#pragma once
// RandomStrategy: a uniformly random candidate (the seed's `random`), from an injected
// seed so tests are reproducible. Owned by a Balancer.

#include "common/rng.h"
#include "routing/strategy.h"

namespace celeriac::balancer {

class RandomStrategy final : public Strategy {
 public:
  explicit RandomStrategy(std::uint64_t seed) : rng_(seed) {}
  [[nodiscard]] std::size_t pick(std::span<const Candidate> candidates) override;
  [[nodiscard]] StrategyKind kind() const override { return StrategyKind::kRandom; }

 private:
  Rng rng_;
};

}  // namespace celeriac::balancer
