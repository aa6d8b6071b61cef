#include "worker/uv/loop_lag_stats.h"

#include <algorithm>

namespace celeriac::worker::uv {

void LoopLagStats::record(std::chrono::microseconds lag) {
  samples_us_.push_back(std::max<std::int64_t>(0, lag.count()));
}

LoopLagSummary LoopLagStats::summary() const {
  LoopLagSummary s;
  s.samples = samples_us_.size();
  if (samples_us_.empty()) return s;
  std::vector<std::int64_t> sorted = samples_us_;
  std::sort(sorted.begin(), sorted.end());
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  const auto rank = [&sorted](std::size_t percent) {
    const std::size_t n = sorted.size();
    const std::size_t r = (n * percent + 99) / 100;  // ceil(n * p / 100), >= 1
    return std::chrono::microseconds(sorted[std::max<std::size_t>(r, 1) - 1]);
  };
  s.p50 = rank(50);
  s.p99 = rank(99);
  s.max = std::chrono::microseconds(sorted.back());
  return s;
}

LoopLagSummary LoopLagStats::take() {
  LoopLagSummary s = summary();
  samples_us_.clear();
  return s;
}

}  // namespace celeriac::worker::uv
