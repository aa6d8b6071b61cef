#pragma once
// TokenBucket: one rate limit (requests per minute, or tokens per minute) as a
// continuously refilling bucket that may go into debt.
//
// For: pacing calls to a provider so that we run out before the provider says 429.
// A call reserves its estimate up front (reserve), and reconciles with the real usage
// afterwards (reconcile): unused tokens are refunded, overshoot is charged as debt (the
// level goes negative and the bucket refuses until it has refilled past zero). Unknown
// usage never refunds: the provider may have charged the whole estimate.
// Response headers can only TIGHTEN the local view (syncFromHeaders): a provider saying
// "you have more" is ignored, because other replicas or tools may share the key. An
// unlimited bucket (no configured TPM) is paced by the headers alone: "N left, reset in
// T" lets at most N through until T, then it is unlimited again.
//
// Not for: several buckets at once (AdmissionControl), or buckets shared between
// processes (SharedBucketStore). Not thread-safe; lives on the balancer's loop.
// Time is always passed in; the bucket never reads a clock.

#include <chrono>
#include <cstdint>
#include <optional>

#include "admission/header_cap.h"
#include "common/clock.h"

namespace celeriac::balancer {

class TokenBucket {
 public:
  // `capacity` tokens, refilled evenly over `period` (a minute for RPM/TPM). The bucket
  // starts full at `now`. A capacity of 0 means "unlimited": every reserve succeeds.
  TokenBucket(double capacity, std::chrono::nanoseconds period, SteadyTime now);

  [[nodiscard]] bool unlimited() const { return capacity_ <= 0; }
  [[nodiscard]] double capacity() const { return capacity_; }

  // Current level after refilling up to `now`; negative while in debt.
  [[nodiscard]] double level(SteadyTime now);

  // Takes `amount` when the bucket holds at least min(amount, capacity) (so a request
  // bigger than the whole bucket still goes out once the bucket is full, and leaves a
  // debt). Returns false and changes nothing otherwise.
  [[nodiscard]] bool tryReserve(double amount, SteadyTime now);

  // Takes `amount` unconditionally (used when a group of buckets has already agreed).
  void forceReserve(double amount, SteadyTime now);

  // Gives back a reservation that was never used (the call did not go out).
  void release(double reserved, SteadyTime now);

  // After the call: `actual` is what the provider charged, nullopt when unknown.
  // actual < reserved refunds the difference; actual > reserved charges it as debt.
  void reconcile(double reserved, std::optional<double> actual, SteadyTime now);

  // How long until tryReserve(amount) would succeed; zero if it would now.
  [[nodiscard]] std::chrono::nanoseconds timeUntil(double amount, SteadyTime now);

  // The provider reports `remaining` and optionally when it is back to full. Lowers
  // the level to `remaining` if that is below ours; when the provider reports nothing
  // left, holds our refill until its reset so we never beat its clock. Never raises.
  void syncFromHeaders(std::int64_t remaining, std::optional<std::chrono::nanoseconds> reset,
                       SteadyTime now);

 private:
  void refill(SteadyTime now);

  double capacity_;
  double tokens_per_ns_;
  double level_;
  SteadyTime last_;
  SteadyTime hold_until_;  // no refill accrues before this instant
  // Unlimited buckets only: what the provider last said is left, and until when.
  HeaderCap header_;
};

}  // namespace celeriac::balancer
