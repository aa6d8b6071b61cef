#include "worker/tasks/llm_meta.h"

#include <cmath>

namespace celeriac::worker::tasks {

void LlmMeta::add(const balancer::CallSuccess& success) {
  model = success.model;
  endpoint = success.endpoint;
  attempts += success.attempts;
  llm_calls += 1;
  if (success.usage) {
    prompt_tokens += success.usage->input_tokens;
    completion_tokens += success.usage->output_tokens;
  }
  cost_usd += success.cost_usd;
  // `total` covers waits and failed attempts; older results may only fill `latency`.
  latency += success.total.count() > 0 ? success.total : success.latency;
}

nlohmann::json LlmMeta::toJson() const {
  // Milliseconds with microsecond precision, rounded so the JSON stays short.
  const double latency_ms = std::round(static_cast<double>(latency.count()) / 10.0) / 100.0;
  return nlohmann::json{{"model", model},
                        {"endpoint", endpoint},
                        {"attempts", attempts},
                        {"llm_calls", llm_calls},
                        {"prompt_tokens", prompt_tokens},
                        {"completion_tokens", completion_tokens},
                        {"cost_usd", cost_usd},
                        {"latency_ms", latency_ms}};
}

}  // namespace celeriac::worker::tasks
