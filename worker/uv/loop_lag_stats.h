#pragma once
// LoopLagStats: percentiles of loop-lag samples over one reporting interval.
//
// For: the loop-lag probe (loop_lag_probe.h), which feeds it one sample per tick, and
// whatever reads the probe (a log line per interval, later a /healthz check). Not a
// general histogram: it keeps the interval's samples (one per 10 ms tick, so 6,000 a
// minute) and sorts a copy when asked, which is exact and cheap at that rate.
// Pure: no clock, no loop; the caller gives each sample. Single-threaded.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace celeriac::worker::uv {

struct LoopLagSummary {
  std::size_t samples = 0;
  std::chrono::microseconds p50{0};
  std::chrono::microseconds p99{0};
  std::chrono::microseconds max{0};
};

class LoopLagStats {
 public:
  // One tick ran `lag` after it was due (negative lags, from timer rounding, count as 0).
  void record(std::chrono::microseconds lag);
  // Percentiles by nearest rank over the samples since the last take; all zero if none.
  [[nodiscard]] LoopLagSummary summary() const;
  // summary(), then starts a new interval.
  LoopLagSummary take();
  [[nodiscard]] std::size_t size() const { return samples_us_.size(); }

 private:
  std::vector<std::int64_t> samples_us_;
};

}  // namespace celeriac::worker::uv
