#include "routing/least_connections_strategy.h"

namespace celeriac::balancer {

std::size_t LeastConnectionsStrategy::pick(std::span<const Candidate> candidates) {
  const std::size_t n = candidates.size();
  const std::size_t start = rotation_++ % n;
  std::size_t best = start;
  for (std::size_t k = 1; k < n; ++k) {
    const std::size_t i = (start + k) % n;
    if (candidates[i].in_flight < candidates[best].in_flight) best = i;
  }
  return best;
}

}  // namespace celeriac::balancer
