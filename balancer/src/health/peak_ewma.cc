#include "health/peak_ewma.h"

#include <cmath>

namespace celeriac::balancer {

void PeakEwma::observe(std::chrono::microseconds sample, SteadyTime now) {
  const auto sample_us = static_cast<double>(sample.count());
  if (!seeded_ || sample_us > value_us_) {
    value_us_ = sample_us;
  } else {
    const double dt = std::chrono::duration<double, std::nano>(now - last_).count();
    const double keep = std::exp(-dt / static_cast<double>(decay_.count()));
    value_us_ = value_us_ * keep + sample_us * (1.0 - keep);
  }
  seeded_ = true;
  last_ = now;
}

}  // namespace celeriac::balancer
