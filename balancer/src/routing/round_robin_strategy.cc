#include "routing/round_robin_strategy.h"

namespace celeriac::balancer {

std::size_t RoundRobinStrategy::pick(std::span<const Candidate> candidates) {
  // The cursor counts picks, not endpoints: when the candidate set shrinks (an endpoint
  // is filtered out) the rotation continues over the rest without a reset.
  return cursor_++ % candidates.size();
}

}  // namespace celeriac::balancer
