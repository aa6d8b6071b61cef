// Balancer: the per-call routing constraints on candidates, beyond health, breakers and
// buckets: context window, price and latency (see RoutingConstraints in chat_request.h).
// Split from balancer.cc to keep files short; see balancer.h for the contracts.
#include <algorithm>

#include "balancer/balancer.h"
#include "balancer_call.h"

namespace celeriac::balancer {

std::string_view Balancer::excludedBy(const Call& c, const EndpointState& ep,
                                      const std::string& model) const {
  const RoutingConstraints& want = c.request.constraints();
  if (const auto cap = config_.capabilities.find(model);
      cap != config_.capabilities.end() && cap->second.context_window > 0 &&
      c.request.admissionTokens(ep.config, model, config_.default_max_tokens) >
          static_cast<double>(cap->second.context_window)) {
    return "context_too_small";
  }
  // A model with no price is not judged on price (blendedPrice() is 0 for it).
  if (want.max_cost_per_1k && blendedPrice(model) / 1000.0 > *want.max_cost_per_1k) {
    return "over_cost_limit";
  }
  return {};
}

bool Balancer::tooSlow(const Call& c, const Target& t, const std::string& model) const {
  const auto& max = c.request.constraints().max_latency;
  if (!max) return false;
  double expected_us = t.latency.micros();  // observed, once there is a sample
  if (expected_us <= 0) {
    const auto cap = config_.capabilities.find(model);
    if (cap == config_.capabilities.end() || !cap->second.typical_latency) return false;
    expected_us = static_cast<double>(
        std::chrono::duration_cast<std::chrono::microseconds>(*cap->second.typical_latency)
            .count());
  }
  return expected_us >
         static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(*max).count());
}

bool Balancer::tryStartAny(Call& c, SteadyTime& earliest) {
  if (tryStart(c, earliest, true)) return true;
  // Nothing fast enough could start: a slow answer beats none.
  return c.slow_skipped && tryStart(c, earliest, false);
}

std::string Balancer::unmetConstraintsReason(const Call& c) const {
  // Context window and price never change, so a chain they rule out entirely is the
  // caller's mistake: fail now rather than wait or park. A chain no endpoint serves at
  // all is left to step(), as in unservedReason().
  std::string why;
  for (const std::string& model : c.chain) {
    for (const EndpointState& ep : endpoints_) {
      if (!serves(ep.config, model)) continue;
      const std::string_view reason = excludedBy(c, ep, model);
      if (reason.empty()) return {};
      why += (why.empty() ? "" : ", ") + model + " (" + std::string(reason) + ")";
      break;
    }
  }
  if (why.empty()) return {};
  return "no model of the chain meets the request's constraints: " + why;
}

}  // namespace celeriac::balancer
