#pragma once
// Endpoints: the configured endpoints as the call loop sees them: their keys, their retry
// budget, and one Target per (endpoint, model) with its breaker, latency and stats.
//
// For: the Balancer (built once from the config, then read and updated by the call loop)
// and the Picker (which walks the endpoints serving a model). Targets are made on first
// use and stay at the same address for the Balancer's life, as do the ModelRows that
// list them per model, so a pick holds pointers instead of hashing strings.
// Not for: deciding anything (the Picker picks, the loop sends and settles).
// Ownership and threading: owned by the Balancer, on its loop; uses the Balancer's
// AdmissionControl (each Target points at its keys' admission state) and clock.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "admission/admission_control.h"
#include "balancer/config.h"
#include "common/clock.h"
#include "health/circuit_breaker.h"
#include "health/peak_ewma.h"
#include "health/retry_budget.h"
#include "health/target_stats.h"

namespace celeriac::balancer {

struct KeyState {
  std::string alias;
  std::string secret;
  std::string pool;  // bucket/pause pool: the quota group, else the alias
  bool invalid = false;
  bool shared = false;  // admission through the SharedBucketStore
};

struct Target {  // one (endpoint, model)
  CircuitBreaker breaker;
  PeakEwma latency;
  TargetStats stats;
  std::uint32_t in_flight = 0;
  // The admission state of (key's pool, model) for each of the endpoint's keys, by key
  // index: looked up once here, so a pick does not hash strings per endpoint and key.
  std::vector<AdmissionControl::Entry*> admission = {};
};

struct EndpointState {
  EndpointConfig config;
  std::vector<KeyState> keys;  // empty: keyless (one implicit pool named after endpoint)
  RetryBudget budget;
  std::size_t key_cursor = 0;  // the key the next pick tries first
  std::map<std::string, Target, std::less<>> targets;
};

// What a pick needs to know of one model, looked up once instead of per endpoint (the
// config is fixed, so who serves the model never changes).
struct ModelRow {
  std::vector<std::size_t> endpoints;  // the endpoints serving the model, in order
  std::vector<Target*> targets;        // by position in `endpoints`; null until used
};

class Endpoints {
 public:
  Endpoints(CircuitBreakerOptions breaker, AdmissionControl& admission, const Clock& clock);
  Endpoints(const Endpoints&) = delete;
  Endpoints& operator=(const Endpoints&) = delete;

  void add(EndpointState endpoint);  // while the Balancer is built, before any lookup

  [[nodiscard]] std::size_t size() const { return list_.size(); }
  EndpointState& operator[](std::size_t i) { return list_[i]; }
  const EndpointState& operator[](std::size_t i) const { return list_[i]; }
  auto begin() { return list_.begin(); }
  auto end() { return list_.end(); }
  [[nodiscard]] auto begin() const { return list_.begin(); }
  [[nodiscard]] auto end() const { return list_.end(); }

  // (endpoint, model)'s target, made on first use.
  Target& target(std::size_t endpoint, std::string_view model);
  ModelRow& modelRow(std::string_view model);

 private:
  CircuitBreakerOptions breaker_;
  AdmissionControl& admission_;
  const Clock& clock_;
  std::vector<EndpointState> list_;
  std::map<std::string, ModelRow, std::less<>> model_rows_;
};

}  // namespace celeriac::balancer
