#pragma once
// LlmMeta: the `meta` block every LLM task result carries (schemas/llm_meta.schema.json).
//
// Summed over every balancer call one task made (the first call and, after invalid
// model output, the repair call), so cost and tokens are what the task really spent.
// model and endpoint are those of the last successful call. Plain value.

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "balancer/call_result.h"

namespace celeriac::worker::tasks {

struct LlmMeta {
  std::string model;
  std::string endpoint;
  int attempts = 0;                // HTTP attempts across retries, fallbacks and calls
  int llm_calls = 0;               // balancer calls: 1, or 2 after a repair
  std::int64_t prompt_tokens = 0;  // 0 when the provider reported no usage
  std::int64_t completion_tokens = 0;
  double cost_usd = 0;
  // Sum of each call's time from submit to answer (waits and retries included); the
  // repair call is submitted as soon as the first answers, so this is the task's LLM time.
  std::chrono::microseconds latency{0};

  void add(const balancer::CallSuccess& success);
  [[nodiscard]] nlohmann::json toJson() const;
};

}  // namespace celeriac::worker::tasks
