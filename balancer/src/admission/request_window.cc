#include "admission/request_window.h"

#include <algorithm>

namespace celeriac::balancer {

// The ring grows as sends arrive, up to `limit` entries, so memory follows what is
// really sent in a window, not the configured limit (a generous RPM costs nothing until
// it is used). While it grows, head_ stays 0: it only moves once the ring is full.
RequestWindow::RequestWindow(std::int64_t limit, std::chrono::nanoseconds period)
    : limit_(limit), period_(period) {}

bool RequestWindow::full() const { return size_ == static_cast<std::size_t>(limit_); }

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
  if (header_.active(now)) left = std::min(left, static_cast<std::int64_t>(header_.left()));
  return std::max<std::int64_t>(left, 0);
}

SteadyTime RequestWindow::availableAt(SteadyTime now) const {
  SteadyTime at = now;
  // An exhausted header budget holds until the provider's reset, limit or not.
  if (!header_.admits(1, now)) at = std::max(at, header_.until());
  if (unlimited()) return at;
  // Full ring: the oldest send must leave the window first.
  if (full()) at = std::max(at, ring_[head_] + period_);
  return at;
}

bool RequestWindow::tryAdmit(SteadyTime now) {
  if (availableAt(now) > now) return false;
  forceAdmit(now);
  return true;
}

void RequestWindow::forceAdmit(SteadyTime now) {
  header_.take(1, now);
  if (unlimited()) return;
  // A stale `now` must not reorder the log: entries stay sorted.
  if (size_ > 0) now = std::max(now, ring_[(head_ + size_ - 1) % ring_.size()]);
  if (full()) {
    ring_[head_] = now;  // overwrite the oldest (it has left the window if checked)
    head_ = (head_ + 1) % ring_.size();
  } else if (size_ == ring_.size()) {
    // Still growing, so head_ is 0 and the end is the newest. Before the vector would
    // reallocate, drop what has left the window: memory then follows the sends in one
    // window (at most twice), not every send since start-up.
    if (ring_.size() == ring_.capacity()) dropExpired(now);
    if (size_ == ring_.size()) {
      ring_.push_back(now);
    } else {
      ring_[size_] = now;
    }
    ++size_;
  } else {
    ring_[(head_ + size_) % ring_.size()] = now;
    ++size_;
  }
}

// Only while growing (head_ == 0): the expired entries are a prefix.
void RequestWindow::dropExpired(SteadyTime now) {
  const std::size_t expired = size_ - inWindow(now);
  if (expired == 0) return;
  ring_.erase(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(expired));
  size_ -= expired;
}

void RequestWindow::release(SteadyTime admitted_at, SteadyTime now) {
  // The header budget is not given back: the cap may have been set after this admission
  // (then it never counted it), and a provider may count a refused request anyway.
  if (unlimited()) return;
  // An entry that has left the window counts for nothing any more; it may even have
  // been overwritten, and the search below would then find a later, real send.
  if (admitted_at + period_ <= now) return;
  // Forget the released send itself, not the newest one: dropping a later entry would
  // leave this earlier time in the log, which leaves the window sooner than the real
  // later send, and let one request too many through. The first entry at or after
  // `admitted_at` is the released one (forceAdmit never stores an earlier time) or, with
  // a stale clock, one of equal or earlier time: keeping the later ones never
  // under-counts.
  std::size_t lo = 0, hi = size_;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (ring_[(head_ + mid) % ring_.size()] < admitted_at) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == size_) return;
  for (std::size_t i = lo; i + 1 < size_; ++i) {
    ring_[(head_ + i) % ring_.size()] = ring_[(head_ + i + 1) % ring_.size()];
  }
  --size_;
}

void RequestWindow::syncFromHeaders(std::int64_t remaining,
                                    std::optional<std::chrono::nanoseconds> reset, SteadyTime now) {
  const bool has_reset = reset && reset->count() > 0;
  // Without a limit of our own there is no request interval to fall back on: a budget
  // with no end would never lift, so only a header with a reset paces an unlimited pair.
  if (unlimited() && !has_reset) return;
  const SteadyTime until = now + (has_reset ? *reset : period_ / std::max<std::int64_t>(limit_, 1));
  header_.tighten(static_cast<double>(std::max<std::int64_t>(remaining, 0)), until, now);
}

}  // namespace celeriac::balancer
