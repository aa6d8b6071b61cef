#pragma once
// Backoff: full-jitter exponential delay before reusing an endpoint in the same call.
//
// For: spreading retries so that callers failing together do not return together
// (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015: full jitter draws
// uniformly from [0, min(cap, base x 2^attempt)]). The seed's 429 advice is 2..10 s;
// those are the defaults here (floor 0 is allowed). Not for: Retry-After, which is an
// order from the server and handled as a pause (AdmissionControl). Not thread-safe.

#include <chrono>
#include <cstdint>

#include "balancer/config.h"  // the options
#include "common/rng.h"

namespace celeriac::balancer {

class Backoff {
 public:
  Backoff(BackoffOptions options, std::uint64_t seed) : options_(options), rng_(seed) {}

  // Delay before retry number `retry` (0 for the first retry).
  [[nodiscard]] std::chrono::milliseconds delay(int retry);

  // The upper bound delay(retry) draws from (for tests and stats).
  [[nodiscard]] std::chrono::milliseconds ceiling(int retry) const;

 private:
  BackoffOptions options_;
  Rng rng_;
};

}  // namespace celeriac::balancer
