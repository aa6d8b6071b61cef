#pragma once
// LatencyStrategy: power of two random choices on peak-EWMA latency x (in flight + 1).
//
// For: sending load to the endpoints that answer fastest right now without herding:
// comparing two random candidates (Mitzenmacher, "The Power of Two Choices in Randomized
// Load Balancing", 2001) avoids every caller stampeding onto the single best one, and
// costs O(1) per pick. An endpoint with no latency sample yet scores 0, so new or
// recovered endpoints get tried. Owned by a Balancer; seeded for reproducible tests.

#include "common/rng.h"
#include "routing/strategy.h"

namespace celeriac::balancer {

class LatencyStrategy final : public Strategy {
 public:
  explicit LatencyStrategy(std::uint64_t seed) : rng_(seed) {}
  [[nodiscard]] std::size_t pick(std::span<const Candidate> candidates) override;
  [[nodiscard]] StrategyKind kind() const override { return StrategyKind::kLatency; }

 private:
  Rng rng_;
};

}  // namespace celeriac::balancer
