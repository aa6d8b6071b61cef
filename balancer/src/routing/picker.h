#pragma once
// Picker: where a call's next attempt goes. It walks the call's chain of models; per
// model the strategy picks among the endpoints serving it, and only the pick is then
// checked (the call's constraints, health, breaker, backoff, retry budget, a key with
// capacity). It also says up front whether a call can ever be served at all.
//
// For: the Balancer's call loop, which then reserves (or asks the shared store) and sends.
// A pick reserves nothing. What it changes: the strategies' rotation, the ramp draws, the
// endpoint's key cursor, the call's trace of skipped candidates and its slow_skipped;
// and a (endpoint, model) seen for the first time gets its Target (Endpoints::target,
// which also makes that pair's admission state).
// Not for: admitting or sending (the loop: AdmissionControl, SharedAdmission, launch()),
// nor the strategies' own rules (routing/*_strategy.h).
// Ownership and threading: owned by the Balancer, on its loop. It owns the strategies
// (one per kind and model) and the ramp's random draws; it reads the config, the
// endpoints, the admission state (local and shared), the health checker and the clock,
// all the Balancer's, which outlive it.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "admission/admission_control.h"
#include "admission/shared_admission.h"
#include "balancer/config.h"
#include "common/clock.h"
#include "common/result.h"
#include "common/rng.h"
#include "core/balancer_call.h"
#include "core/endpoints.h"
#include "routing/strategy.h"

namespace celeriac::balancer {

class HealthChecker;  // health/health_checker.h

class Picker {
 public:
  // The candidate chosen: send on `key` of `endpoint` for `model` (one of the call's
  // chain), reserving `tokens`; through the shared store when `shared`.
  struct Pick {
    std::size_t endpoint = 0;
    std::size_t key = 0;
    const std::string& model;
    double tokens = 0;
    bool shared = false;
  };

  // `health` null: no health checks (every endpoint counts as healthy).
  Picker(const BalancerConfig& config, Endpoints& endpoints, const AdmissionControl& admission,
         const SharedAdmission& shared, const HealthChecker* health, const Clock& clock,
         std::uint64_t seed);
  Picker(const Picker&) = delete;
  Picker& operator=(const Picker&) = delete;

  // One walk of the chain at `now`. Every candidate left out is recorded in the call's
  // trace (unless call.quiet) and lowers `earliest` to when it could go. `honor_latency`
  // false also takes candidates over the call's max_latency (call.slow_skipped says
  // whether a walk that honoured it left any out).
  std::optional<Pick> pick(Call& call, SteadyTime now, SteadyTime& earliest, bool honor_latency);

  // An Error saying why no endpoint can ever take the call's chain for its API.
  [[nodiscard]] common::Result<void> checkServed(const Call& call) const;
  // An Error saying why no model of the chain can ever meet the call's constraints.
  [[nodiscard]] common::Result<void> checkConstraints(const Call& call) const;

 private:
  Strategy& strategyFor(const Call& call, std::string_view model);
  // Why the call must never go to `model` at `endpoint` (its context window or price),
  // empty if it may. A trace reason, not an error: a constant, so a walk over candidates
  // allocates nothing.
  [[nodiscard]] std::string_view excludedBy(const Call& call, const EndpointState& endpoint,
                                            const std::string& model) const;
  [[nodiscard]] bool tooSlow(const Call& call, const Target& target,
                             const std::string& model) const;
  // May this key take the call now? If not, why and until when.
  [[nodiscard]] SharedAdmission::Check checkKey(const KeyState& key, AdmissionControl::Entry& pair,
                                                std::string_view model, double tokens,
                                                SteadyTime now) const;
  [[nodiscard]] double blendedPrice(std::string_view model) const;

  const BalancerConfig& config_;
  Endpoints& endpoints_;
  const AdmissionControl& admission_;
  const SharedAdmission& shared_;
  const HealthChecker* health_;
  const Clock& clock_;
  std::uint64_t seed_;
  Rng ramp_rng_;  // draws which ramping candidates take part in a pick
  std::map<std::string, std::unique_ptr<Strategy>, std::less<>> strategies_;
};

}  // namespace celeriac::balancer
