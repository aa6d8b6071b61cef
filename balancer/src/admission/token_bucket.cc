#include "admission/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace celeriac::balancer {

TokenBucket::TokenBucket(double capacity, std::chrono::nanoseconds period, SteadyTime now)
    : capacity_(capacity),
      tokens_per_ns_(period.count() > 0 ? capacity / static_cast<double>(period.count()) : 0),
      level_(capacity),
      last_(now),
      hold_until_(now) {}

void TokenBucket::refill(SteadyTime now) {
  if (unlimited()) return;
  const SteadyTime from = std::max(last_, hold_until_);
  if (now > from) {
    const auto elapsed = static_cast<double>((now - from).count());
    level_ = std::min(capacity_, level_ + elapsed * tokens_per_ns_);
  }
  // Time never runs backwards for a bucket, even if a caller passes a stale `now`.
  last_ = std::max(last_, now);
}

double TokenBucket::level(SteadyTime now) {
  refill(now);
  return level_;
}

bool TokenBucket::tryReserve(double amount, SteadyTime now) {
  if (unlimited()) {
    if (!header_.admits(amount, now)) return false;
    forceReserve(amount, now);
    return true;
  }
  refill(now);
  if (level_ < std::min(amount, capacity_)) return false;
  level_ -= amount;
  return true;
}

void TokenBucket::forceReserve(double amount, SteadyTime now) {
  if (unlimited()) {
    header_.take(amount, now);
    return;
  }
  refill(now);
  level_ -= amount;
}

void TokenBucket::release(double reserved, SteadyTime now) { reconcile(reserved, 0.0, now); }

void TokenBucket::reconcile(double reserved, std::optional<double> actual, SteadyTime now) {
  // An unlimited bucket's only budget is the provider's own count, which a later header
  // brings up to date; refunding into it could only overstate what is left.
  if (unlimited() || !actual) return;
  refill(now);
  level_ = std::min(capacity_, level_ + (reserved - *actual));
}

std::chrono::nanoseconds TokenBucket::timeUntil(double amount, SteadyTime now) {
  if (unlimited()) {
    if (!header_.admits(amount, now)) return header_.until() - now;
    return std::chrono::nanoseconds{0};
  }
  refill(now);
  const double needed = std::min(amount, capacity_) - level_;
  const std::chrono::nanoseconds hold =
      hold_until_ > now ? std::chrono::nanoseconds{hold_until_ - now} : std::chrono::nanoseconds{0};
  if (needed <= 0) return std::chrono::nanoseconds{0};
  if (tokens_per_ns_ <= 0) return std::chrono::nanoseconds::max();
  // Round up so that a wake-up at exactly this delay finds enough tokens.
  return hold +
         std::chrono::nanoseconds{static_cast<std::int64_t>(std::ceil(needed / tokens_per_ns_))};
}

void TokenBucket::syncFromHeaders(std::int64_t remaining,
                                  std::optional<std::chrono::nanoseconds> reset, SteadyTime now) {
  if (unlimited()) {
    // No capacity of our own: the provider's "N left until the reset" is the whole
    // budget until then. Without a reset it could never lift, so it is not taken.
    if (!reset || reset->count() <= 0) return;
    header_.tighten(static_cast<double>(std::max<std::int64_t>(remaining, 0)), now + *reset, now);
    return;
  }
  refill(now);
  level_ = std::min(level_, static_cast<double>(remaining));
  if (remaining <= 0 && reset && reset->count() > 0) {
    hold_until_ = std::max(hold_until_, now + *reset);
  }
}

}  // namespace celeriac::balancer
