#pragma once
// ManualClock: a Clock that only moves when a test says so. Shared by unit tests of
// pure code (buckets, breakers, strategies) so that nothing sleeps.

#include <chrono>

#include "common/clock.h"

namespace celeriac::testing {

class ManualClock final : public common::Clock {
 public:
  ManualClock()
      : steady_(std::chrono::steady_clock::time_point{} + std::chrono::hours(1)),
        wall_(std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 56)) {}

  // Each read of now() first moves the steady time on by the tick (zero by default):
  // lets a test see time pass inside synchronous code, deterministically.
  [[nodiscard]] common::SteadyTime now() const override {
    steady_ += tick_per_read_;
    return steady_;
  }
  void tickOnEveryRead(std::chrono::nanoseconds tick) { tick_per_read_ = tick; }
  [[nodiscard]] common::WallTime wallNow() const override { return wall_; }

  void advance(std::chrono::nanoseconds by) {
    steady_ += by;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
  }
  void setWall(common::WallTime t) { wall_ = t; }

 private:
  mutable common::SteadyTime steady_;
  common::WallTime wall_;
  std::chrono::nanoseconds tick_per_read_{0};
};

}  // namespace celeriac::testing
