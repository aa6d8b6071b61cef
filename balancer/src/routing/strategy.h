#pragma once
// Strategy: how to choose one endpoint among the healthy candidates that serve a model.
//
// For: a tiny interface (after h2o's balancer.h) over a candidate list the caller has
// already filtered (breaker, pause, buckets). Implementations keep only what they need
// between picks (a cursor, smoothed weights indexed by Candidate::id). A pick must not
// allocate and must stay well under a microsecond for 64 candidates (see
// bench/balancer/pick_bench.cc). Not for: filtering or health (Balancer does that).
// Not thread-safe; each Balancer owns its strategies on its loop.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "balancer/config.h"  // StrategyKind

namespace celeriac::balancer {

// One candidate as strategies see it: plain numbers, no strings, cheap to fill.
struct Candidate {
  std::uint32_t id = 0;  // stable endpoint index, < Balancer's endpoint count
  double weight = 1;     // configured weight x breaker ramp factor, > 0
  std::uint32_t in_flight = 0;
  double latency_us = 0;     // peak-EWMA latency; 0 = no sample yet
  double cost_per_mtok = 0;  // blended USD price per 1M tokens of this model here
};

[[nodiscard]] std::string_view toString(StrategyKind kind);
[[nodiscard]] std::optional<StrategyKind> parseStrategyKind(std::string_view name);

class Strategy {
 public:
  virtual ~Strategy() = default;
  // Returns an index into `candidates`, which must not be empty.
  [[nodiscard]] virtual std::size_t pick(std::span<const Candidate> candidates) = 0;
  [[nodiscard]] virtual StrategyKind kind() const = 0;
};

// `seed` feeds the random and latency strategies; others ignore it.
[[nodiscard]] std::unique_ptr<Strategy> makeStrategy(StrategyKind kind, std::uint64_t seed);

}  // namespace celeriac::balancer
