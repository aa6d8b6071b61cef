#pragma once
// LeastConnectionsStrategy: the candidate with the fewest calls in flight (the seed's
// `least_connections`). Ties rotate, so that an idle pool is not all sent to the first
// endpoint. Not latency-aware (LatencyStrategy is). Owned by a Balancer.

#include "routing/strategy.h"

namespace celeriac::balancer {

class LeastConnectionsStrategy final : public Strategy {
 public:
  [[nodiscard]] std::size_t pick(std::span<const Candidate> candidates) override;
  [[nodiscard]] StrategyKind kind() const override { return StrategyKind::kLeastConnections; }

 private:
  std::size_t rotation_ = 0;
};

}  // namespace celeriac::balancer
