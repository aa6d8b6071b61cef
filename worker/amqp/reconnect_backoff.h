#pragma once
// ReconnectBackoff: how long to wait before the next connection attempt.
//
// Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): each delay is
// drawn uniformly from [min, cap], and the cap doubles after every failure up to max,
// so a fleet of workers that lost the same broker does not come back in step. A
// successful connection resets the cap to min.
// Pure apart from its own random generator (seedable for tests). Single-threaded.

#include <chrono>
#include <cstdint>
#include <random>

namespace celeriac::worker::amqp {

class ReconnectBackoff {
 public:
  ReconnectBackoff(std::chrono::milliseconds min, std::chrono::milliseconds max,
                   std::uint32_t seed = std::random_device{}());

  // The delay before the next attempt; then doubles the cap (up to max).
  std::chrono::milliseconds next();
  void reset() { cap_ = min_; }
  [[nodiscard]] std::chrono::milliseconds cap() const { return cap_; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds cap_;
  std::minstd_rand rng_;
};

}  // namespace celeriac::worker::amqp
