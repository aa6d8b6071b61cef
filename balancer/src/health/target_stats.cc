#include "health/target_stats.h"

#include <algorithm>
#include <cstdlib>

namespace celeriac::balancer {

void TargetStats::addSample(std::chrono::microseconds latency, bool failed) {
  // +1 keeps a 0 µs failure distinguishable from a 0 µs success.
  const std::int64_t sample = failed ? -(latency.count() + 1) : latency.count();
  if (samples_.size() < kLatencySamples) {
    samples_.push_back(sample);
  } else {
    samples_[next_] = sample;
  }
  next_ = (next_ + 1) % kLatencySamples;
}

void TargetStats::recordSuccess(std::chrono::microseconds latency, std::int64_t tokens_in,
                                std::int64_t tokens_out, double cost_usd) {
  ++successes_;
  tokens_in_ += tokens_in;
  tokens_out_ += tokens_out;
  cost_usd_ += cost_usd;
  consecutive_failures_ = 0;
  addSample(latency, false);
}

void TargetStats::recordFailure(FailureClass failure, std::chrono::microseconds latency) {
  ++failures_[static_cast<std::size_t>(failure)];
  ++consecutive_failures_;
  addSample(latency, true);
}

std::int64_t TargetStats::failures() const {
  std::int64_t total = 0;
  for (auto n : failures_) total += n;
  return total;
}

nlohmann::json TargetStats::toJson(const AlertOptions& options) const {
  nlohmann::json by_class = nlohmann::json::object();
  for (std::size_t i = 0; i < failures_.size(); ++i) {
    if (failures_[i] > 0)
      by_class[std::string(toString(static_cast<FailureClass>(i)))] = failures_[i];
  }
  const std::int64_t slow_us =
      std::chrono::duration_cast<std::chrono::microseconds>(options.slow_call).count();
  std::vector<std::int64_t> sorted;
  sorted.reserve(samples_.size());
  std::int64_t errors = 0, slow = 0;
  double sum_us = 0;
  for (const std::int64_t s : samples_) {
    const std::int64_t us = s < 0 ? -s - 1 : s;
    errors += s < 0 ? 1 : 0;
    slow += us > slow_us ? 1 : 0;
    sum_us += static_cast<double>(us);
    sorted.push_back(us);
  }
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double q) -> double {
    if (sorted.empty()) return 0;
    // Nearest-rank percentile.
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    return static_cast<double>(sorted[rank]) / 1000.0;
  };
  const auto calls = static_cast<std::int64_t>(samples_.size());
  const double error_rate =
      calls > 0 ? static_cast<double>(errors) / static_cast<double>(calls) : 0;
  nlohmann::json alerts = nlohmann::json::array();
  if (!samples_.empty()) {
    const std::int64_t latest = samples_[(next_ + samples_.size() - 1) % samples_.size()];
    if ((latest < 0 ? -latest - 1 : latest) > slow_us) alerts.push_back("slow_call");
  }
  if (calls >= options.min_calls_for_error_rate && error_rate > options.error_rate) {
    alerts.push_back("error_rate");
  }
  if (consecutive_failures_ >= options.consecutive_failures) {
    alerts.push_back("consecutive_failures");
  }
  const std::int64_t finished = successes_ + failures();
  return {
      {"requests", requests_},
      {"success", successes_},
      {"failures", std::move(by_class)},
      {"success_rate",
       finished > 0 ? static_cast<double>(successes_) / static_cast<double>(finished) : 1.0},
      {"latency_ms",
       {{"mean", calls > 0 ? sum_us / static_cast<double>(calls) / 1000.0 : 0.0},
        {"p50", pct(0.50)},
        {"p95", pct(0.95)},
        {"p99", pct(0.99)}}},
      {"tokens_in", tokens_in_},
      {"tokens_out", tokens_out_},
      {"cost_usd", cost_usd_},
      {"consecutive_failures", consecutive_failures_},
      {"recent",
       {{"calls", calls}, {"errors", errors}, {"error_rate", error_rate}, {"slow_calls", slow}}},
      {"alerts", std::move(alerts)}};
}

}  // namespace celeriac::balancer
