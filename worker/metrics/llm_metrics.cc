#include "worker/metrics/llm_metrics.h"

#include <chrono>

namespace celeriac::worker::metrics {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// LLM calls take from tens of milliseconds (embeddings) to minutes (long generations).
const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300};

// The balancer's own work per attempt is microseconds; the top buckets catch a stall.
const prometheus::Histogram::BucketBoundaries kOverheadBuckets = {
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 2.5e-2};

// A number field of stats(), or `fallback` when absent or not a number (an unlimited
// bucket may be reported as null).
double number(const nlohmann::json& j, const std::string& key, double fallback = 0) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string text(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

double breakerValue(const std::string& state) {
  if (state == "open") return 2;
  if (state == "half_open") return 1;
  return 0;
}

}  // namespace

std::string LlmMetrics::outcomeLabel(balancer::FailureClass failure) {
  return failure == balancer::FailureClass::kNone ? "success"
                                                  : std::string(balancer::toString(failure));
}

LlmMetrics::LlmMetrics(prometheus::Registry& registry)
    : requests_(BuildCounter()
                    .Name("celeriac_llm_requests_total")
                    .Help("LLM HTTP attempts by endpoint, model, key alias and outcome class.")
                    .Register(registry)),
      duration_(BuildHistogram()
                    .Name("celeriac_llm_request_duration_seconds")
                    .Help("LLM HTTP attempt latency, send to answer.")
                    .Register(registry)),
      tokens_(BuildCounter()
                  .Name("celeriac_llm_tokens_total")
                  .Help("Tokens the providers reported, by type (input, output).")
                  .Register(registry)),
      cost_(BuildCounter()
                .Name("celeriac_llm_cost_usd_total")
                .Help("Cost of successful LLM calls in USD, from the config's pricing table.")
                .Register(registry)),
      pauses_(BuildCounter()
                  .Name("celeriac_llm_header_pauses_total")
                  .Help("429 answers that paused a key for a model.")
                  .Register(registry)),
      bucket_level_(BuildGauge()
                        .Name("celeriac_llm_bucket_level")
                        .Help("Requests (rpm) or tokens (tpm) a key may still send to a model now.")
                        .Register(registry)),
      bucket_capacity_(BuildGauge()
                           .Name("celeriac_llm_bucket_capacity")
                           .Help("A key's rate-limit bucket size per minute, rpm or tpm.")
                           .Register(registry)),
      breaker_(BuildGauge()
                   .Name("celeriac_llm_breaker_state")
                   .Help("Circuit breaker per endpoint and model: 0 closed, 1 half-open, 2 open.")
                   .Register(registry)),
      waiting_(BuildGauge()
                   .Name("celeriac_llm_calls_waiting")
                   .Help("LLM calls waiting for capacity.")
                   .Register(registry)
                   .Add({})),
      in_flight_(BuildGauge()
                     .Name("celeriac_llm_calls_in_flight")
                     .Help("LLM calls submitted and not answered yet.")
                     .Register(registry)
                     .Add({})),
      overhead_(BuildHistogram()
                    .Name("celeriac_llm_balancer_overhead_seconds")
                    .Help("The balancer's own time per LLM attempt (pick, admission, encoding, "
                          "decoding), waiting excluded.")
                    .Register(registry)
                    .Add({}, kOverheadBuckets)) {}

LlmMetrics::Target& LlmMetrics::target(const std::string& endpoint, const std::string& model) {
  auto key = std::make_pair(endpoint, model);
  auto it = targets_.find(key);
  if (it != targets_.end()) return it->second;
  const prometheus::Labels labels{{"endpoint", endpoint}, {"model", model}};
  Target t;
  t.duration = &duration_.Add(labels, kDurationBuckets);
  t.input_tokens = &tokens_.Add({{"endpoint", endpoint}, {"model", model}, {"type", "input"}});
  t.output_tokens = &tokens_.Add({{"endpoint", endpoint}, {"model", model}, {"type", "output"}});
  t.cost = &cost_.Add(labels);
  return targets_.emplace(std::move(key), t).first->second;
}

void LlmMetrics::attach(balancer::Balancer& balancer) {
  detach();
  balancer_ = &balancer;
  balancer.setAttemptObserver([this](const balancer::AttemptRecord& a) { observe(a); });
}

void LlmMetrics::detach() {
  if (balancer_ == nullptr) return;
  balancer_->setAttemptObserver(nullptr);
  balancer_ = nullptr;
}

void LlmMetrics::refresh() {
  if (balancer_ != nullptr) refresh(balancer_->stats());
}

void LlmMetrics::observe(const balancer::AttemptRecord& a) {
  const auto key = std::make_tuple(a.endpoint, a.model, a.key_alias, static_cast<int>(a.outcome));
  auto it = requests_by_.find(key);
  if (it == requests_by_.end()) {
    prometheus::Counter& c = requests_.Add({{"endpoint", a.endpoint},
                                            {"model", a.model},
                                            {"key", a.key_alias},
                                            {"outcome", outcomeLabel(a.outcome)}});
    it = requests_by_.emplace(key, &c).first;
  }
  it->second->Increment();
  Target& t = target(a.endpoint, a.model);
  t.duration->Observe(std::chrono::duration<double>(a.latency).count());
  overhead_.Observe(std::chrono::duration<double>(a.overhead).count());
  if (a.input_tokens > 0) t.input_tokens->Increment(static_cast<double>(a.input_tokens));
  if (a.output_tokens > 0) t.output_tokens->Increment(static_cast<double>(a.output_tokens));
  if (a.cost_usd > 0) t.cost->Increment(a.cost_usd);
  if (a.pause.count() > 0) {
    pauses_.Add({{"endpoint", a.endpoint}, {"model", a.model}, {"key", a.key_alias}}).Increment();
  }
}

void LlmMetrics::refresh(const nlohmann::json& stats) {
  waiting_.Set(number(stats, "calls_waiting"));
  in_flight_.Set(number(stats, "calls_in_flight"));
  const auto endpoints = stats.find("endpoints");
  if (endpoints == stats.end() || !endpoints->is_array()) return;
  for (const auto& ep : *endpoints) {
    const std::string endpoint = text(ep, "name");
    const auto models = ep.find("models");
    if (models == ep.end() || !models->is_array()) continue;
    for (const auto& m : *models) {
      const std::string model = text(m, "model");
      breaker_.Add({{"endpoint", endpoint}, {"model", model}})
          .Set(breakerValue(text(m, "breaker")));
      const auto buckets = m.find("buckets");
      if (buckets == m.end() || !buckets->is_array()) continue;
      for (const auto& b : *buckets) {
        const std::string key = text(b, "key");
        for (const char* kind : {"rpm", "tpm"}) {
          const prometheus::Labels labels{
              {"endpoint", endpoint}, {"model", model}, {"key", key}, {"bucket", kind}};
          bucket_level_.Add(labels).Set(number(b, std::string(kind) + "_level"));
          bucket_capacity_.Add(labels).Set(number(b, std::string(kind) + "_capacity"));
        }
      }
    }
  }
}

}  // namespace celeriac::worker::metrics
