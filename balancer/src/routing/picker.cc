// Picker: the walk of a call's chain (pick), the checks on the strategy's pick, and the
// call's routing constraints (context window, price, latency; RoutingConstraints in
// chat_request.h). The contracts are in picker.h.
#include "routing/picker.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "health/health_checker.h"
#include "providers/provider_codec.h"

namespace celeriac::balancer {

Picker::Picker(const BalancerConfig& config, Endpoints& endpoints,
               const AdmissionControl& admission, const SharedAdmission& shared,
               const HealthChecker* health, const Clock& clock, std::uint64_t seed)
    : config_(config),
      endpoints_(endpoints),
      admission_(admission),
      shared_(shared),
      health_(health),
      clock_(clock),
      seed_(seed),
      ramp_rng_(seed ^ 0x4a3bULL) {}

// Walks the chain; on the first model with an admissible candidate, picks it and its key.
// Otherwise lowers `earliest` to the first time any skipped candidate could go.
//
// Per model: every endpoint serving it becomes a candidate with just what strategies
// read (weight x ramp, in flight, latency, price); the strategy picks; only the pick is
// then checked (constraints, health, breaker, backoff, retry budget, a key with
// capacity). A refused pick is traced, dropped, and the strategy picks again. So a pick
// among 64 endpoints costs one check when the first choice can go, not 64.
std::optional<Picker::Pick> Picker::pick(Call& c, SteadyTime now, SteadyTime& earliest,
                                         bool honor_latency) {
  if (honor_latency) c.slow_skipped = false;
  std::vector<Candidate> candidates;
  std::vector<std::size_t> position;  // of each candidate in its ModelRow
  std::vector<double> ramp_share;     // each candidate's breaker load factor (the draw)
  candidates.reserve(endpoints_.size());
  position.reserve(endpoints_.size());
  ramp_share.reserve(endpoints_.size());
  for (const std::string& model : c.chain) {
    candidates.clear();
    position.clear();
    ramp_share.clear();
    ModelRow& row = endpoints_.modelRow(model);
    const double price = blendedPrice(model);
    auto skip = [&](const EndpointState& ep, std::string reason, std::string alias,
                    SteadyTime retry_at) {
      earliest = std::min(earliest, retry_at);
      if (c.quiet) return;
      c.recordSkip(
          std::chrono::duration_cast<std::chrono::microseconds>(clock_.now() - c.submitted),
          ep.config.name, model, std::move(alias), std::move(reason));
    };
    std::size_t full_share = 0;  // candidates not ramping
    std::size_t ramping = 0;
    for (std::size_t i = 0; i < row.endpoints.size(); ++i) {
      const EndpointState& ep = endpoints_[row.endpoints[i]];
      // Before target(): an API the provider lacks leaves no (endpoint, model) stats.
      if (const auto why = c.request.unsupportedBy(codecFor(ep.config.provider)); !why.empty()) {
        skip(ep, std::string(why), "", SteadyTime::max());
        continue;
      }
      if (row.targets[i] == nullptr) row.targets[i] = &endpoints_.target(row.endpoints[i], model);
      const Target& t = *row.targets[i];
      const double ramp = t.breaker.loadFactor(now);
      if (ramp >= 1.0) {
        ++full_share;
      } else {
        ++ramping;
      }
      candidates.push_back({static_cast<std::uint32_t>(row.endpoints[i]), ep.config.weight * ramp,
                            t.in_flight, t.latency.micros(), price});
      position.push_back(i);
      ramp_share.push_back(ramp);
    }
    if (candidates.empty()) continue;

    Strategy& strategy = strategyFor(c, model);
    // The weighted strategy reads the ramp in Candidate::weight; for the others each
    // ramping candidate takes part in this pick with probability equal to its share,
    // while a peer at full share is there to take the load (with none, leaving it out
    // would only delay the call). Drawn before the pick, so that the strategy's own
    // rotation is not skewed by refusals. Those held back still serve if every other
    // candidate is refused (the peers may be the ones that cannot go).
    std::vector<Candidate> held_back;
    std::vector<std::size_t> held_back_position;
    if (ramping > 0 && full_share > 0 && strategy.kind() != StrategyKind::kWeighted) {
      std::size_t kept = 0;
      for (std::size_t n = 0; n < candidates.size(); ++n) {
        if (ramp_share[n] < 1.0 && ramp_rng_.unit() >= ramp_share[n]) {
          skip(endpoints_[candidates[n].id], "ramping", "", SteadyTime::max());
          held_back.push_back(candidates[n]);
          held_back_position.push_back(position[n]);
          continue;
        }
        candidates[kept] = candidates[n];
        position[kept] = position[n];
        ++kept;
      }
      candidates.resize(kept);
      position.resize(kept);
    }
    // Why the pick cannot go now (traced and dropped), else the key to send it on (and
    // `tokens`, what it reserves there).
    double tokens = 0;
    auto usableKey = [&](std::size_t pick) -> std::optional<std::size_t> {
      const std::size_t e = candidates[pick].id;
      EndpointState& ep = endpoints_[e];
      Target& t = *row.targets[position[pick]];
      if (const std::string_view why = excludedBy(c, ep, model); !why.empty()) {
        skip(ep, std::string(why), "", SteadyTime::max());
        return std::nullopt;
      }
      if (honor_latency && tooSlow(c, t, model)) {
        skip(ep, "over_latency_limit", "", SteadyTime::max());
        c.slow_skipped = true;
        return std::nullopt;
      }
      if (health_ && !health_->healthy(e)) {
        skip(ep, "unhealthy", "", health_->nextRoundAt());
        return std::nullopt;
      }
      if (!t.breaker.canAttempt(now)) {
        skip(ep, "breaker_open", "", t.breaker.retryAt(now));
        return std::nullopt;
      }
      if (auto nb = c.not_before.empty() ? c.not_before.end() : c.not_before.find({e, model});
          nb != c.not_before.end() && now < nb->second) {
        skip(ep, "backoff", "", nb->second);
        return std::nullopt;
      }
      if (c.attempts > 0 && !ep.budget.canRetry(now)) {
        skip(ep, "retry_budget", "", now + std::chrono::seconds(1));
        return std::nullopt;
      }
      tokens = c.request.admissionTokens(ep.config, model, config_.default_max_tokens);
      // Keys in turn from the endpoint's cursor, so load spreads over a replica's keys.
      std::optional<SharedAdmission::Check> refusal;
      std::size_t refused_key = 0;
      for (std::size_t n = 0; n < ep.keys.size(); ++n) {
        const std::size_t k = (ep.key_cursor + n) % ep.keys.size();
        if (ep.keys[k].invalid) continue;
        SharedAdmission::Check check = checkKey(ep.keys[k], *t.admission[k], model, tokens, now);
        if (check.ok()) return k;
        if (!refusal || check.retry_at < refusal->retry_at) {
          refusal = std::move(check);
          refused_key = k;
        }
      }
      if (refusal) {
        skip(ep, std::string(refusal->refusal), ep.keys[refused_key].alias, refusal->retry_at);
      } else {
        skip(ep, "key_invalid", "", SteadyTime::max());
      }
      return std::nullopt;
    };

    while (!candidates.empty() || !held_back.empty()) {
      if (candidates.empty()) {  // every peer refused: the ramping ones after all
        candidates.swap(held_back);
        position.swap(held_back_position);
      }
      const std::size_t pick = strategy.pick(candidates);
      const std::optional<std::size_t> key = usableKey(pick);
      if (!key) {
        candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(pick));
        position.erase(position.begin() + static_cast<std::ptrdiff_t>(pick));
        continue;
      }
      const std::size_t e = candidates[pick].id;
      EndpointState& ep = endpoints_[e];
      const std::size_t k = *key;
      ep.key_cursor = k + 1;
      return Pick{e, k, model, tokens, ep.keys[k].shared && shared_.uses(ep.keys[k].pool, model)};
    }
  }
  return std::nullopt;
}

std::string_view Picker::excludedBy(const Call& c, const EndpointState& ep,
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

bool Picker::tooSlow(const Call& c, const Target& t, const std::string& model) const {
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

common::Result<void> Picker::checkConstraints(const Call& c) const {
  // Context window and price never change, so a chain they rule out entirely is the
  // caller's mistake: fail now rather than wait or park. A chain no endpoint serves at
  // all is left to step(), as in checkServed(). The window check depends on the
  // endpoint (its max_tokens), so a model counts as ruled out only if every endpoint
  // serving it is.
  std::string why;
  for (const std::string& model : c.chain) {
    std::string_view first_reason;
    for (const EndpointState& ep : endpoints_) {
      if (!serves(ep.config, model)) continue;
      const std::string_view reason = excludedBy(c, ep, model);
      if (reason.empty()) return {};
      if (first_reason.empty()) first_reason = reason;
    }
    if (!first_reason.empty()) {
      why += (why.empty() ? "" : ", ") + model + " (" + std::string(first_reason) + ")";
    }
  }
  if (why.empty()) return {};
  return common::Error{"no model of the chain meets the request's constraints: " + why};
}

common::Result<void> Picker::checkServed(const Call& c) const {
  // The config is fixed, so a chain no endpoint can ever serve for this API is the
  // caller's mistake, not a capacity problem worth waiting or parking for. A chain no
  // endpoint serves at all is left to step() (all unavailable), as it always was.
  bool any_endpoint = false;
  for (const std::string& model : c.chain) {
    for (const EndpointState& ep : endpoints_) {
      if (!serves(ep.config, model)) continue;
      if (c.request.unsupportedBy(codecFor(ep.config.provider)).empty()) return {};
      any_endpoint = true;
    }
  }
  if (!any_endpoint) return {};
  std::string models;
  for (const std::string& model : c.chain) models += (models.empty() ? "" : ", ") + model;
  return common::Error{"no endpoint serving " + models + " offers " +
                       std::string(c.request.apiName()) + " (their providers have no such API)"};
}

Strategy& Picker::strategyFor(const Call& call, std::string_view model) {
  // One strategy per (kind, model) so that weighted/round-robin state is per model.
  const StrategyKind kind = call.strategy.value_or(config_.strategy);
  std::string key(toString(kind));
  key.append("/").append(model);
  auto it = strategies_.find(key);
  if (it == strategies_.end()) {
    it = strategies_.emplace(key, makeStrategy(kind, seed_ + strategies_.size())).first;
  }
  return *it->second;
}

SharedAdmission::Check Picker::checkKey(const KeyState& key, AdmissionControl::Entry& pair,
                                        std::string_view model, double tokens,
                                        SteadyTime now) const {
  if (key.shared && shared_.uses(key.pool, model)) {
    return shared_.check(key.pool, model, pair, tokens, now);
  }
  const AdmissionDecision d = admission_.check(pair, tokens, now);
  if (d.verdict == AdmissionVerdict::kAdmitted) return {{}, now};
  return {toString(d.verdict), d.retry_at};
}

double Picker::blendedPrice(std::string_view model) const {
  const auto it = config_.pricing.find(std::string(model));
  if (it == config_.pricing.end()) return 0;
  // Chat replies run shorter than prompts; weigh input 3:1 as a neutral guess.
  return (3 * it->second.input_per_mtok + it->second.output_per_mtok) / 4;
}

}  // namespace celeriac::balancer
