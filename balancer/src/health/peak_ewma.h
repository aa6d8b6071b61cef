#pragma once
// PeakEwma: a latency estimate that jumps up at once on a slow sample and decays slowly.
//
// For: the `latency` strategy's score (Finagle/Linkerd's peak-EWMA: a sudden slowdown
// is believed immediately, a recovery only gradually, so load moves away fast and comes
// back carefully). The decay uses the time between samples, not a fixed weight, so a
// rarely-used endpoint is not judged on one stale sample. Not thread-safe; time passed in.

#include <chrono>

#include "common/clock.h"

namespace celeriac::balancer {

class PeakEwma {
 public:
  explicit PeakEwma(std::chrono::nanoseconds decay = std::chrono::seconds(10)) : decay_(decay) {}

  void observe(std::chrono::microseconds sample, SteadyTime now);

  // Estimated latency in microseconds; 0 before the first sample.
  [[nodiscard]] double micros() const { return value_us_; }

 private:
  std::chrono::nanoseconds decay_;
  double value_us_ = 0;
  SteadyTime last_{};
  bool seeded_ = false;
};

}  // namespace celeriac::balancer
