#include "routing/random_strategy.h"

namespace celeriac::balancer {

std::size_t RandomStrategy::pick(std::span<const Candidate> candidates) {
  return rng_.below(static_cast<std::uint32_t>(candidates.size()));
}

}  // namespace celeriac::balancer
