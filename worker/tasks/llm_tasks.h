#pragma once
// registerLlmTasks: adds the two LLM tasks of the waste-classification platform to a
// TaskRegistry:
//   gpt5_analyzer.analyze       on queue gpt5-analyzer        (analyze_task.h)
//   response_generator.generate on queue response-generator   (generate_task.h)
// and celeriac.llm_stats (any of the worker's queues): the Balancer's stats() as the
// result, for Python callers used to the Python balancer module's get_stats().
// Names, queues, prompt files and routes come from LlmTasksConfig (llm_tasks_config.h);
// the app consumes the configured queues.
//
// Start-up only: loads every schema and prompt once, and returns an Error (registering
// nothing) if one is missing or broken, so a bad deployment fails before it consumes a
// message. The handlers share the loaded state and borrow the Balancer,
// which must outlive the registry's runs. Loop thread only.
//
// Failures are Celery FAILUREs typed as in llm_errors.h; a call no model can take now
// ends with an Unavailable outcome (retry_at and models typed) that the worker parks.

#include "balancer/balancer.h"
#include "common/result.h"
#include "worker/tasks/llm_tasks_config.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

inline constexpr const char* kLlmStatsTask = "celeriac.llm_stats";

[[nodiscard]] common::Result<void> registerLlmTasks(TaskRegistry& registry,
                                                    balancer::Balancer& balancer,
                                                    const LlmTasksConfig& config);

}  // namespace celeriac::worker::tasks
