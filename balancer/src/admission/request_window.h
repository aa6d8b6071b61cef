#pragma once
// RequestWindow: "at most `limit` requests in ANY `period`" (RPM) as an exact sliding log.
//
// For: request admission per (key, model). A token bucket that starts full with capacity
// N refilling N per minute lets through up to 2N in one minute (a full burst, then the
// refill); providers count requests in a sliding minute, so that overshoots. This keeps
// the send times of the last `limit` admissions in a ring: a request is admitted iff
// fewer than `limit` of them lie in (now - period, now], i.e. iff the ring is not full or
// its oldest entry is at least `period` old. The earliest next admission is then exactly
// oldest + period, so waiters wake once, never poll.
// Windows are half-open: two sends exactly `period` apart are in different windows.
//
// Provider headers can only TIGHTEN (syncFromHeaders): "n remaining until reset" caps
// admissions to n until then, on top of the log; a header saying "more" changes nothing.
// The cap applies to an unlimited window too (a pair with no configured RPM is still
// paced by what the provider reports), but only while a reported reset bounds it.
//
// Not for: token limits (TokenBucket: they reserve estimates and reconcile), or windows
// shared between processes (SharedBucketStore). Memory: one time point per send in
// the window (up to twice that while the ring grows), at most one per unit of limit.
// Not thread-safe; time is passed in, never read.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "admission/header_cap.h"
#include "common/clock.h"

namespace celeriac::balancer {

class RequestWindow {
 public:
  // `limit` requests per `period`; 0 means unlimited (everything is admitted).
  RequestWindow(std::int64_t limit, std::chrono::nanoseconds period);

  [[nodiscard]] bool unlimited() const { return limit_ <= 0; }
  [[nodiscard]] std::int64_t limit() const { return limit_; }

  // How many admissions are left now (limit minus sends in the window, also capped by
  // an active header budget). `limit()` when nothing was sent recently.
  [[nodiscard]] std::int64_t remaining(SteadyTime now) const;

  // The earliest instant >= now at which tryAdmit would succeed.
  [[nodiscard]] SteadyTime availableAt(SteadyTime now) const;

  // Records a send at `now` iff it is allowed; false (and no change) otherwise.
  [[nodiscard]] bool tryAdmit(SteadyTime now);

  // Time points held, sent or not yet reused (for tests of the memory bound).
  [[nodiscard]] std::size_t heldEntries() const { return ring_.capacity(); }
  // Records a send at `now` unconditionally (the caller has already checked).
  void forceAdmit(SteadyTime now);

  // The admission made at `admitted_at` never went out (or the provider did not count
  // it): forget that entry if it is still in the window. The header budget stays spent.
  void release(SteadyTime admitted_at, SteadyTime now);

  // The provider says `remaining` requests are left, back to full after `reset`. Until
  // then, at most `remaining` more are admitted. Without a reset the cap lasts one
  // request interval (period / limit), as a refilling bucket would.
  void syncFromHeaders(std::int64_t remaining, std::optional<std::chrono::nanoseconds> reset,
                       SteadyTime now);

 private:
  [[nodiscard]] std::size_t inWindow(SteadyTime now) const;
  [[nodiscard]] bool full() const;  // `limit` sends are logged
  void dropExpired(SteadyTime now);

  std::int64_t limit_;
  std::chrono::nanoseconds period_;
  std::vector<SteadyTime> ring_;  // send times, oldest at head_ when full
  std::size_t head_ = 0;          // index of the oldest entry
  std::size_t size_ = 0;
  HeaderCap header_;  // what the provider's headers last said is left
};

}  // namespace celeriac::balancer
