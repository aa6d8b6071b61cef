#pragma once
// Pause: "do not use this until T", where a later T always wins.
//
// For: a key/model told to back off by a 429 (Retry-After, reset headers) or a
// breaker's open deadline. Several signals can arrive out of order (a short Retry-After
// after a long reset); keeping the LATEST deadline means no signal can shorten another.
// Not for: deciding how long to pause (RateLimitInfo, CircuitBreaker). Plain value type.

#include "common/clock.h"

namespace celeriac::balancer {

class Pause {
 public:
  // Extends the pause to `until` unless it already runs later. Returns true if extended.
  bool extendTo(SteadyTime until) {
    if (until <= until_) return false;
    until_ = until;
    return true;
  }
  [[nodiscard]] bool active(SteadyTime now) const { return now < until_; }
  // The deadline; in the past (or epoch) when not paused.
  [[nodiscard]] SteadyTime until() const { return until_; }

 private:
  SteadyTime until_{};
};

}  // namespace celeriac::balancer
