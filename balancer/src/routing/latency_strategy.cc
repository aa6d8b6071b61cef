#include "routing/latency_strategy.h"

namespace celeriac::balancer {
namespace {

double score(const Candidate& c) { return c.latency_us * (static_cast<double>(c.in_flight) + 1.0); }

}  // namespace

std::size_t LatencyStrategy::pick(std::span<const Candidate> candidates) {
  const auto n = static_cast<std::uint32_t>(candidates.size());
  if (n == 1) return 0;
  const std::uint32_t a = rng_.below(n);
  // Second choice distinct from the first: draw from n-1 and skip over `a`.
  std::uint32_t b = rng_.below(n - 1);
  if (b >= a) ++b;
  const double sa = score(candidates[a]), sb = score(candidates[b]);
  if (sa != sb) return sa < sb ? a : b;
  return candidates[a].in_flight <= candidates[b].in_flight ? a : b;
}

}  // namespace celeriac::balancer
