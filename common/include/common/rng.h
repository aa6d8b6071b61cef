#pragma once
// Rng: the small, seeded, deterministic random source injected wherever pure code needs
// randomness (the balancer's random and latency strategies, backoff jitter).
//
// For: reproducible tests (same seed, same picks) and a pick path that costs a few
// nanoseconds. Not for: anything security-related. SplitMix64 (Steele, Lea, Flood,
// "Fast splittable pseudorandom number generators", OOPSLA 2014): one 64-bit state,
// full period, good enough statistical quality for load spreading. Not thread-safe.

#include <cstdint>

namespace celeriac::inline common {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n) for 0 < n < 2^32 (Lemire's multiply-shift on 32 random bits: no
  // division on the pick path, bias below n / 2^32).
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32);
  }

  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

}  // namespace celeriac::inline common
