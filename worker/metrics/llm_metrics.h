#pragma once
// LlmMetrics: the balancer's metrics under celeriac_llm_*, in a prometheus-cpp registry.
//
// Per attempt (observe(), fed by Balancer::setAttemptObserver):
//   celeriac_llm_requests_total{endpoint, model, key, outcome}  outcome is a CLOSED set:
//       "success" or a FailureClass name (caller_error, key_invalid, rate_limited,
//       overloaded, server_error, timeout, connection, malformed, cancelled)
//   celeriac_llm_request_duration_seconds{endpoint, model}  histogram, every attempt
//   celeriac_llm_tokens_total{endpoint, model, type="input"|"output"}
//   celeriac_llm_cost_usd_total{endpoint, model}  from the config's pricing table
//   celeriac_llm_header_pauses_total{endpoint, model, key}  429s that paused the key
//   celeriac_llm_balancer_overhead_seconds  histogram, the balancer's own time per
//       attempt (AttemptRecord::overhead): what it adds to a direct HTTP call
// From Balancer::stats() (refresh(), a 1 s timer):
//   celeriac_llm_bucket_level{endpoint, model, key, bucket="rpm"|"tpm"} and
//   celeriac_llm_bucket_capacity{...}; celeriac_llm_breaker_state{endpoint, model}
//   (0 closed, 1 half-open, 2 open); celeriac_llm_calls_waiting;
//   celeriac_llm_calls_in_flight.
//
// Label values come from the balancer config only (endpoint names, model names, key
// aliases), never a key's secret or a provider's message. Loop thread for the updates;
// prometheus-cpp lets the HTTP server's threads collect concurrently.

#include <map>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "balancer/attempt_record.h"
#include "balancer/balancer.h"

namespace celeriac::worker::metrics {

class LlmMetrics {
 public:
  explicit LlmMetrics(prometheus::Registry& registry);

  // The outcome label of a failure class ("success" for kNone).
  [[nodiscard]] static std::string outcomeLabel(balancer::FailureClass failure);

  // Counts `balancer`'s attempts from now on (its attempt observer) and remembers it
  // for refresh(). The Balancer must be destroyed, or detached, before this object.
  void attach(balancer::Balancer& balancer);
  // Stops counting and forgets the Balancer (before it or this object goes).
  void detach();
  // Refreshes the gauges from the attached Balancer's stats() (nothing if none).
  void refresh();

  void observe(const balancer::AttemptRecord& attempt);
  // `stats` is Balancer::stats().
  void refresh(const nlohmann::json& stats);

 private:
  struct Target {  // one (endpoint, model)
    prometheus::Histogram* duration = nullptr;
    prometheus::Counter* input_tokens = nullptr;
    prometheus::Counter* output_tokens = nullptr;
    prometheus::Counter* cost = nullptr;
  };
  Target& target(const std::string& endpoint, const std::string& model);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& tokens_;
  prometheus::Family<prometheus::Counter>& cost_;
  prometheus::Family<prometheus::Counter>& pauses_;
  prometheus::Family<prometheus::Gauge>& bucket_level_;
  prometheus::Family<prometheus::Gauge>& bucket_capacity_;
  prometheus::Family<prometheus::Gauge>& breaker_;
  prometheus::Gauge& waiting_;
  prometheus::Gauge& in_flight_;
  prometheus::Histogram& overhead_;
  balancer::Balancer* balancer_ = nullptr;
  std::map<std::pair<std::string, std::string>, Target> targets_;
  std::map<std::tuple<std::string, std::string, std::string, int>, prometheus::Counter*> requests_by_;
};

}  // namespace celeriac::worker::metrics
