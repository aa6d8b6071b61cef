#include "health/circuit_breaker.h"

#include <algorithm>
#include <cmath>

namespace celeriac::balancer {

std::string_view toString(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options) : options_(options) {}

BreakerState CircuitBreaker::state(SteadyTime now) const {
  if (!open_) return BreakerState::kClosed;
  return now < reopen_at_ ? BreakerState::kOpen : BreakerState::kHalfOpen;
}

bool CircuitBreaker::canAttempt(SteadyTime now) const {
  switch (state(now)) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      return false;
    case BreakerState::kHalfOpen:
      return !trial_in_flight_;
  }
  return false;
}

bool CircuitBreaker::tryAcquire(SteadyTime now) {
  if (!canAttempt(now)) return false;
  if (state(now) == BreakerState::kHalfOpen) trial_in_flight_ = true;
  return true;
}

void CircuitBreaker::rollWindow(SteadyTime now) {
  const auto half = options_.window / 2;
  if (now - window_start_ < half) return;
  if (now - window_start_ < 2 * half) {
    prev_requests_ = window_requests_;
    prev_failures_ = window_failures_;
  } else {
    prev_requests_ = prev_failures_ = 0;
  }
  window_requests_ = window_failures_ = 0;
  window_start_ = now;
}

void CircuitBreaker::onSuccess(SteadyTime now) {
  rollWindow(now);
  ++window_requests_;
  consecutive_failures_ = 0;
  if (open_ && trial_in_flight_) {
    // The trial succeeded: close, forget the outage's window, and ramp load back.
    open_ = false;
    trial_in_flight_ = false;
    reopen_streak_ = 0;
    ramping_ = true;
    ramp_started_ = now;
    window_requests_ = 1;
    window_failures_ = prev_requests_ = prev_failures_ = 0;
  }
}

void CircuitBreaker::onFailure(SteadyTime now) {
  rollWindow(now);
  ++window_requests_;
  ++window_failures_;
  ++consecutive_failures_;
  if (open_) {
    // A failed trial (or a late failure from a call sent before the open) re-opens.
    if (trial_in_flight_ || now >= reopen_at_) {
      trial_in_flight_ = false;
      open(now);
    }
    return;
  }
  const std::int64_t requests = window_requests_ + prev_requests_;
  const std::int64_t failures = window_failures_ + prev_failures_;
  const bool rate_tripped =
      requests >= options_.min_requests &&
      static_cast<double>(failures) >= options_.error_rate * static_cast<double>(requests);
  if (consecutive_failures_ >= options_.consecutive_failures || rate_tripped) open(now);
}

void CircuitBreaker::onAbandon(SteadyTime /*now*/) { trial_in_flight_ = false; }

void CircuitBreaker::open(SteadyTime now) {
  const double scale = std::pow(options_.cooldown_multiplier, reopen_streak_);
  const double cooldown_ms = std::min(static_cast<double>(options_.max_cooldown.count()),
                                      static_cast<double>(options_.cooldown.count()) * scale);
  const SteadyTime candidate =
      now + std::chrono::milliseconds{static_cast<std::int64_t>(cooldown_ms)};
  // A later open never shortens a deadline an earlier open set.
  reopen_at_ = std::max(reopen_at_, candidate);
  open_ = true;
  ramping_ = false;
  ++opens_;
  ++reopen_streak_;
}

SteadyTime CircuitBreaker::retryAt(SteadyTime now) const {
  if (canAttempt(now)) return now;
  // Half-open with the trial out: its outcome is unknown, so look again shortly rather
  // than spinning on `now`.
  if (state(now) == BreakerState::kHalfOpen) return now + std::chrono::seconds(1);
  return reopen_at_;
}

double CircuitBreaker::loadFactor(SteadyTime now) const {
  if (open_ || !ramping_ || options_.ramp.count() <= 0) return 1.0;
  const auto elapsed = now - ramp_started_;
  if (elapsed >= options_.ramp) return 1.0;
  const double share = std::chrono::duration<double>(elapsed).count() /
                       std::chrono::duration<double>(options_.ramp).count();
  // Start at 10 % so that a recovered endpoint gets some traffic at once.
  return std::max(0.1, share);
}

}  // namespace celeriac::balancer
