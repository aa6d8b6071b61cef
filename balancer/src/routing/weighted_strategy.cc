#include "routing/weighted_strategy.h"

namespace celeriac::balancer {

std::size_t WeightedStrategy::pick(std::span<const Candidate> candidates) {
  // Grows once per new id, then never allocates again.
  for (const Candidate& c : candidates) {
    if (c.id >= current_.size()) current_.resize(c.id + 1, 0.0);
  }
  double total = 0;
  std::size_t best = 0;
  double best_value = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    const double w = c.weight > 0 ? c.weight : 0;
    total += w;
    const double v = (current_[c.id] += w);
    if (i == 0 || v > best_value) {
      best = i;
      best_value = v;
    }
  }
  current_[candidates[best].id] -= total;
  return best;
}

}  // namespace celeriac::balancer
