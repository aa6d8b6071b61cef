#pragma once
// CircuitBreaker: health of one (endpoint, model), judged from the outcomes of calls.
//
// For: taking a failing endpoint/model out of rotation quickly, probing it with exactly
// one trial call after a cooldown, and ramping load back after it recovers. Only
// endpoint-health failures count (overloaded, server error, timeout, reset, malformed
// reply); caller errors and 429s never reach the breaker (see FailureClass).
// Not for: rate limits (AdmissionControl) or retries (RetryBudget). Not thread-safe;
// lives on the balancer's loop. Time is always passed in.
//
//                  N consecutive failures, or error rate >= R over the window
//                  with at least M requests
//   +--------+  -------------------------------------------->  +--------+
//   | CLOSED |                                                 |  OPEN  |<-----+
//   +--------+  <---+                                          +--------+      |
//       ^           | ramp ends                                     |          |
//       |      +---------+                              cooldown    |          |
//       |      | RAMPING |  (CLOSED, admitting a growing  elapsed   |  trial   |
//       |      +---------+   share of picks)                        v  fails   |
//       |           ^                                      +-----------+       |
//       +-----------+--------------- trial succeeds ------ | HALF-OPEN |-------+
//                                                          +-----------+
//   HALF-OPEN admits exactly ONE trial call; every other caller is refused until the
//   trial reports. Each re-open multiplies the cooldown (capped); a success resets it.
//   A later open never moves the reopen deadline earlier.

#include <chrono>
#include <cstdint>
#include <string_view>

#include "balancer/config.h"  // the options
#include "common/clock.h"

namespace celeriac::balancer {

enum class BreakerState { kClosed, kOpen, kHalfOpen };

[[nodiscard]] std::string_view toString(BreakerState state);

class CircuitBreaker {
 public:
  explicit CircuitBreaker(CircuitBreakerOptions options = {});

  // The state at `now` (OPEN becomes HALF-OPEN once the cooldown has elapsed).
  [[nodiscard]] BreakerState state(SteadyTime now) const;

  // May a call go out now? Pure query: does not take the half-open trial slot.
  [[nodiscard]] bool canAttempt(SteadyTime now) const;

  // Claims permission for one call. In HALF-OPEN, the first caller gets the single trial
  // slot and everyone else false until onSuccess/onFailure/onAbandon. Must be matched by
  // exactly one of those when it returns true.
  [[nodiscard]] bool tryAcquire(SteadyTime now);

  void onSuccess(SteadyTime now);
  void onFailure(SteadyTime now);
  // The acquired call never produced a health signal (cancelled, or a 429/caller error):
  // frees the trial slot without judging the endpoint.
  void onAbandon(SteadyTime now);

  // When a refused caller should look again (the reopen time; `now` if not refusing).
  [[nodiscard]] SteadyTime retryAt(SteadyTime now) const;

  // Share of picks to admit while ramping after recovery, in (0, 1]; 1 when not ramping.
  // Strategies multiply an endpoint's weight by it.
  [[nodiscard]] double loadFactor(SteadyTime now) const;

  [[nodiscard]] int opens() const { return opens_; }

 private:
  void open(SteadyTime now);
  void rollWindow(SteadyTime now);

  CircuitBreakerOptions options_;
  bool open_ = false;
  bool trial_in_flight_ = false;
  int consecutive_failures_ = 0;
  int opens_ = 0;          // total times opened (stats)
  int reopen_streak_ = 0;  // opens since the last close: grows the cooldown
  SteadyTime reopen_at_{};
  SteadyTime ramp_started_{};
  bool ramping_ = false;
  // Two half-windows approximate a sliding window without storing every outcome.
  SteadyTime window_start_{};
  std::int64_t window_requests_ = 0, window_failures_ = 0;
  std::int64_t prev_requests_ = 0, prev_failures_ = 0;
};

}  // namespace celeriac::balancer
