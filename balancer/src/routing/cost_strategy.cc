#include "routing/cost_strategy.h"

namespace celeriac::balancer {

std::size_t CostStrategy::pick(std::span<const Candidate> candidates) {
  const std::size_t n = candidates.size();
  const std::size_t start = rotation_++ % n;
  std::size_t best = start;
  for (std::size_t k = 1; k < n; ++k) {
    const std::size_t i = (start + k) % n;
    const Candidate& c = candidates[i];
    const Candidate& b = candidates[best];
    if (c.cost_per_mtok < b.cost_per_mtok ||
        (c.cost_per_mtok == b.cost_per_mtok && c.in_flight < b.in_flight)) {
      best = i;
    }
  }
  return best;
}

}  // namespace celeriac::balancer
