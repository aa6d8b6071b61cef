#pragma once
// HeaderCap: "the provider says N are left until T", as a cap on what is admitted
// before T.
//
// For: RequestWindow (requests) and TokenBucket (tokens, when no TPM is configured), so
// that a provider's rate-limit headers pace us before it has to say 429. While a cap
// runs, a later report only tightens it: less left, or a later end; never more, never
// sooner (other replicas and tools may share the key). Plain value type; time is passed
// in, never read.

#include <algorithm>

#include "common/clock.h"

namespace celeriac::balancer {

class HeaderCap {
 public:
  [[nodiscard]] bool active(SteadyTime now) const { return now < until_; }
  // Would `amount` more fit now? Always, when no cap runs.
  [[nodiscard]] bool admits(double amount, SteadyTime now) const {
    return !active(now) || left_ >= amount;
  }
  [[nodiscard]] double left() const { return left_; }
  [[nodiscard]] SteadyTime until() const { return until_; }

  void take(double amount, SteadyTime now) {
    if (active(now)) left_ -= amount;
  }
  // The provider reports `remaining` left until `until`.
  void tighten(double remaining, SteadyTime until, SteadyTime now) {
    if (active(now)) {
      left_ = std::min(left_, remaining);
      until_ = std::max(until_, until);
    } else {
      left_ = remaining;
      until_ = until;
    }
  }

 private:
  double left_ = 0;
  SteadyTime until_{};
};

}  // namespace celeriac::balancer
