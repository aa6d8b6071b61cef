#pragma once
// Clock: the only way pure code (the balancer, the pipeline's timing) learns the time.
//
// Pure code never reads the wall clock; it is handed a Clock. Production wires
// UvDispatcher (worker/uv/uv_dispatcher.h), whose now() reads uv_hrtime() on every call
// (not libuv's cached loop time, which has only milliseconds and stands still within a
// loop turn); tests wire ManualClock (tests/support/manual_clock.h) and advance it by
// hand, so no test sleeps.
//
// Two kinds of time: `now()` is monotonic (durations, deadlines, bucket refills);
// `wallNow()` is the Unix epoch (only for interpreting absolute times that arrive from
// outside, such as an HTTP-date Retry-After or an RFC 3339 rate-limit reset).

#include <chrono>

namespace celeriac::inline common {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual SteadyTime now() const = 0;
  [[nodiscard]] virtual WallTime wallNow() const = 0;
};

}  // namespace celeriac::inline common
