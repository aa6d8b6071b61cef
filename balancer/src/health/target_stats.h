#pragma once
// TargetStats: counters and recent latencies of one (endpoint, model).
//
// For: the stats JSON (seed's get_stats, plus failures by class, p50/p95/p99, tokens and
// cost, and the seed's alerts). Keeps the last kLatencySamples calls in a ring;
// percentiles, rates and alerts are computed when stats are read (rare), never on the
// call path. Not for health decisions
// (CircuitBreaker). Not thread-safe; owned by the Balancer.

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "balancer/config.h"  // the options
#include "providers/failure_class.h"

namespace celeriac::balancer {

class TargetStats {
 public:
  static constexpr std::size_t kLatencySamples = 1024;

  void recordRequest() { ++requests_; }
  void recordSuccess(std::chrono::microseconds latency, std::int64_t tokens_in,
                     std::int64_t tokens_out, double cost_usd);
  void recordFailure(FailureClass failure, std::chrono::microseconds latency);

  [[nodiscard]] std::int64_t requests() const { return requests_; }
  [[nodiscard]] std::int64_t successes() const { return successes_; }
  [[nodiscard]] std::int64_t failures() const;

  // {requests, success, failures: {class: n}, success_rate, latency_ms: {mean, p50,
  //  p95, p99}, tokens_in, tokens_out, cost_usd, consecutive_failures, recent: {calls,
  //  errors, error_rate, slow_calls}, alerts: [...]}. `alerts` lists what is raised now:
  //  "slow_call" (the latest call took over options.slow_call), "error_rate" (recent
  //  error rate over options.error_rate), "consecutive_failures".
  [[nodiscard]] nlohmann::json toJson(const AlertOptions& options = {}) const;

 private:
  void addSample(std::chrono::microseconds latency, bool failed);

  std::int64_t requests_ = 0;
  std::int64_t successes_ = 0;
  std::array<std::int64_t, kFailureClassCount> failures_{};
  std::int64_t tokens_in_ = 0;
  std::int64_t tokens_out_ = 0;
  double cost_usd_ = 0;
  // The recent calls, a ring that grows to kLatencySamples: latency, negated for a
  // failure (a latency is never negative), so one ring holds both.
  std::vector<std::int64_t> samples_;
  std::size_t next_ = 0;
  std::int64_t consecutive_failures_ = 0;
};

}  // namespace celeriac::balancer
