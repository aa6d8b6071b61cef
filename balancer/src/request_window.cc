#include "balancer/request_window.h"

#include <algorithm>

namespace celeriac::balancer {

RequestWindow::RequestWindow(std::int64_t limit, std::chrono::nanoseconds period)
    : limit_(limit), period_(period) {
  if (limit_ > 0) ring_.resize(static_cast<std::size_t>(limit_));
}

// Entries are in send order, so those still in the window are a suffix of the ring:
// binary search for the first one, O(log limit) per check.
std::size_t RequestWindow::inWindow(SteadyTime now) const {
  std::size_t lo = 0, hi = size_;  // entries [0, lo) have expired, [hi, size_) have not
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (ring_[(head_ + mid) % ring_.size()] + period_ <= now) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return size_ - lo;
}

std::int64_t RequestWindow::remaining(SteadyTime now) const {
  if (unlimited()) return 0;
  std::int64_t left = limit_ - static_cast<std::int64_t>(inWindow(now));
  if (headerCapActive(now)) left = std::min(left, header_budget_);
  return std::max<std::int64_t>(left, 0);
}

SteadyTime RequestWindow::availableAt(SteadyTime now) const {
  if (unlimited()) return now;
  SteadyTime at = now;
  // Full ring: the oldest send must leave the window first.
  if (size_ == ring_.size()) at = std::max(at, ring_[head_] + period_);
  // An exhausted header budget holds until the provider's reset.
  if (headerCapActive(now) && header_budget_ <= 0) at = std::max(at, header_until_);
  return at;
}

bool RequestWindow::tryAdmit(SteadyTime now) {
  if (availableAt(now) > now) return false;
  forceAdmit(now);
  return true;
}

void RequestWindow::forceAdmit(SteadyTime now) {
  if (unlimited()) return;
  if (headerCapActive(now)) --header_budget_;
  // A stale `now` must not reorder the log: entries stay sorted.
  if (size_ > 0) now = std::max(now, ring_[(head_ + size_ - 1) % ring_.size()]);
  if (size_ == ring_.size()) {
    ring_[head_] = now;  // overwrite the oldest (it has left the window if checked)
    head_ = (head_ + 1) % ring_.size();
  } else {
    ring_[(head_ + size_) % ring_.size()] = now;
    ++size_;
  }
}

void RequestWindow::release() {
  if (unlimited() || size_ == 0) return;
  --size_;  // drop the newest: a released call was the latest admitted one or close to it
  ++header_budget_;
}

void RequestWindow::syncFromHeaders(std::int64_t remaining,
                                    std::optional<std::chrono::nanoseconds> reset, SteadyTime now) {
  if (unlimited()) return;
  const SteadyTime until =
      now + (reset && reset->count() > 0 ? *reset : period_ / std::max<std::int64_t>(limit_, 1));
  remaining = std::max<std::int64_t>(remaining, 0);
  if (headerCapActive(now)) {
    header_budget_ = std::min(header_budget_, remaining);
    header_until_ = std::max(header_until_, until);
  } else {
    header_budget_ = remaining;
    header_until_ = until;
  }
}

}  // namespace celeriac::balancer
