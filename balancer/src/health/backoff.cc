#include "health/backoff.h"

#include <algorithm>

namespace celeriac::balancer {

std::chrono::milliseconds Backoff::ceiling(int retry) const {
  // Shift at most 30 places: beyond that the cap has long since won.
  const int shift = std::clamp(retry, 0, 30);
  const std::int64_t grown = options_.base.count() * (std::int64_t{1} << shift);
  return std::chrono::milliseconds{std::min(grown, options_.cap.count())};
}

std::chrono::milliseconds Backoff::delay(int retry) {
  const std::int64_t top = ceiling(retry).count();
  if (top <= 0) return std::chrono::milliseconds{0};
  return std::chrono::milliseconds{
      static_cast<std::int64_t>(rng_.unit() * static_cast<double>(top + 1))};
}

}  // namespace celeriac::balancer
