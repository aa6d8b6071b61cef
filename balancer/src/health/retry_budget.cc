#include "health/retry_budget.h"

#include <algorithm>

namespace celeriac::balancer {

RetryBudget::RetryBudget(RetryBudgetOptions options) : options_(options) {
  options_.window_seconds = std::clamp(options_.window_seconds, 1, kMaxSlots);
}

std::int64_t RetryBudget::secondOf(SteadyTime now) {
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

RetryBudget::Slot& RetryBudget::current(SteadyTime now) {
  const std::int64_t sec = secondOf(now);
  Slot& slot = slots_[static_cast<std::size_t>(sec % options_.window_seconds)];
  if (slot.second != sec) slot = Slot{sec, 0, 0};  // stale slot from a lap ago
  return slot;
}

std::int64_t RetryBudget::requestsInWindow(SteadyTime now) {
  const std::int64_t sec = secondOf(now);
  std::int64_t total = 0;
  for (int i = 0; i < options_.window_seconds; ++i) {
    const Slot& s = slots_[static_cast<std::size_t>(i)];
    if (s.second > sec - options_.window_seconds && s.second <= sec) total += s.requests;
  }
  return total;
}

std::int64_t RetryBudget::retriesInWindow(SteadyTime now) {
  const std::int64_t sec = secondOf(now);
  std::int64_t total = 0;
  for (int i = 0; i < options_.window_seconds; ++i) {
    const Slot& s = slots_[static_cast<std::size_t>(i)];
    if (s.second > sec - options_.window_seconds && s.second <= sec) total += s.retries;
  }
  return total;
}

void RetryBudget::recordRequest(SteadyTime now) { ++current(now).requests; }

void RetryBudget::recordRetry(SteadyTime now) { ++current(now).retries; }

bool RetryBudget::canRetry(SteadyTime now) {
  const double allowed =
      options_.ratio * static_cast<double>(requestsInWindow(now)) + options_.min_retries;
  return static_cast<double>(retriesInWindow(now) + 1) <= allowed;
}

}  // namespace celeriac::balancer
