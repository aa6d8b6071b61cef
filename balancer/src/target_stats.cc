#include "balancer/target_stats.h"

#include <algorithm>

namespace celeriac::balancer {

void TargetStats::addLatency(std::chrono::microseconds latency) {
  if (latencies_us_.size() < kLatencySamples) {
    latencies_us_.push_back(latency.count());
  } else {
    latencies_us_[next_] = latency.count();
  }
  next_ = (next_ + 1) % kLatencySamples;
}

void TargetStats::recordSuccess(std::chrono::microseconds latency, std::int64_t tokens_in,
                                std::int64_t tokens_out, double cost_usd) {
  ++successes_;
  tokens_in_ += tokens_in;
  tokens_out_ += tokens_out;
  cost_usd_ += cost_usd;
  addLatency(latency);
}

void TargetStats::recordFailure(FailureClass failure, std::chrono::microseconds latency) {
  ++failures_[static_cast<std::size_t>(failure)];
  addLatency(latency);
}

std::int64_t TargetStats::failures() const {
  std::int64_t total = 0;
  for (auto n : failures_) total += n;
  return total;
}

nlohmann::json TargetStats::toJson() const {
  nlohmann::json failures = nlohmann::json::object();
  for (std::size_t i = 0; i < failures_.size(); ++i) {
    if (failures_[i] > 0)
      failures[std::string(toString(static_cast<FailureClass>(i)))] = failures_[i];
  }
  std::vector<std::int64_t> sorted = latencies_us_;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double q) -> double {
    if (sorted.empty()) return 0;
    // Nearest-rank percentile.
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    return static_cast<double>(sorted[rank]) / 1000.0;
  };
  return {{"requests", requests_},
          {"success", successes_},
          {"failures", failures},
          {"latency_ms", {{"p50", pct(0.50)}, {"p95", pct(0.95)}, {"p99", pct(0.99)}}},
          {"tokens_in", tokens_in_},
          {"tokens_out", tokens_out_},
          {"cost_usd", cost_usd_}};
}

}  // namespace celeriac::balancer
