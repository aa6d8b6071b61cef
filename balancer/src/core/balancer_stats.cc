// Balancer::Impl::stats(): the JSON snapshot of what the call loop counts (totals, per endpoint
// x model, keys, the health checker, shared buckets). Read only; the map of the loop is
// at the top of balancer.cc.
#include "core/balancer_impl.h"

#include "health/health_checker.h"

namespace celeriac::balancer {

nlohmann::json Balancer::Impl::stats() {
  using nlohmann::json;
  const SteadyTime now = dispatcher_.clock().now();
  json endpoints = json::array();
  std::size_t healthy = 0;
  for (std::size_t e = 0; e < endpoints_.size(); ++e) {
    EndpointState& ep = endpoints_[e];
    json models = json::array();
    bool any_open = false;
    std::uint32_t in_flight = 0;
    for (auto& [model, t] : ep.targets) {
      json m = t.stats.toJson(config_.alerts);
      const BreakerState state = t.breaker.state(now);
      any_open = any_open || state == BreakerState::kOpen;
      in_flight += t.in_flight;
      m["model"] = model;
      m["breaker"] = std::string(toString(state));
      m["breaker_opens"] = t.breaker.opens();
      m["in_flight"] = t.in_flight;
      m["latency_ms"]["peak_ewma"] = t.latency.micros() / 1000.0;
      json buckets = json::array();
      for (const KeyState& key : ep.keys) {
        const AdmissionSnapshot s = admission_.snapshot(key.pool, model, now);
        buckets.push_back(
            {{"key", key.alias},
             {"rpm_level", s.requests_level},
             {"rpm_capacity", s.requests_capacity},
             {"tpm_level", s.tokens_level},
             {"tpm_capacity", s.tokens_capacity},
             {"paused_for_ms",
              s.paused_until > now
                  ? std::chrono::duration_cast<std::chrono::milliseconds>(s.paused_until - now)
                        .count()
                  : 0}});
      }
      m["buckets"] = std::move(buckets);
      models.push_back(std::move(m));
    }
    json keys = json::array();
    bool any_key = false;
    for (const KeyState& key : ep.keys) {
      keys.push_back({{"alias", key.alias}, {"invalid", key.invalid}, {"shared", key.shared}});
      any_key = any_key || !key.invalid;
    }
    const bool is_healthy = !any_open && any_key && (!health_ || health_->healthy(e));
    if (is_healthy) ++healthy;
    endpoints.push_back({{"name", ep.config.name},
                         {"probe", health_ ? health_->stats(e) : json(nullptr)},
                         {"url", ep.config.base_url},
                         {"provider", std::string(toString(ep.config.provider))},
                         {"weight", ep.config.weight},
                         {"healthy", is_healthy},
                         {"in_flight", in_flight},
                         {"keys", std::move(keys)},
                         {"models", std::move(models)}});
  }
  const auto finished = total_success_ + total_failures_;
  return {
      {"strategy", std::string(toString(config_.strategy))},
      {"total_endpoints", endpoints_.size()},
      {"healthy_endpoints", healthy},
      {"total_requests", total_requests_},
      {"total_success", total_success_},
      {"total_failures", total_failures_},
      {"success_rate",
       finished > 0 ? static_cast<double>(total_success_) / static_cast<double>(finished) : 1.0},
      {"calls_in_flight", calls_.size()},
      {"calls_waiting", waits_.size()},
      {"shared_buckets", sharedStats()},
      {"endpoints", std::move(endpoints)}};
}

}  // namespace celeriac::balancer
