#pragma once
// Per-task options from the tasks config (--tasks-config), with Celery's names and
// meanings, for every task the worker serves (built-ins and LLM tasks alike), keyed by
// the registered task name:
//
//   task_options:
//     celeriac.sleep: {soft_time_limit: 2, time_limit: 5}
//     gpt5_analyzer.analyze:
//       rate_limit: 10/s
//       autoretry_for: [LlmTimeout, ValueError]
//       retry_backoff: 2          # or true (= 1): countdown 2, 4, 8 ... s
//       retry_backoff_max: 60
//       max_retries: 5
//       priority: 5
//
// Options: time_limit, soft_time_limit, rate_limit, ignore_result, acks_late,
// acks_on_failure_or_timeout, reject_on_worker_lost, max_retries, default_retry_delay,
// autoretry_for, retry_backoff, retry_backoff_max, retry_jitter, track_started,
// priority (TaskOptions in task_registry.h says what each does). The schema
// (schemas/llm_tasks_config.schema.json, `task_options`) describes the same.
// What for: the app calls configureTaskOptions() once at start-up, after every task is
// registered. What not: the message's own values (timelimit header, priority,
// ignore_result) are applied per message by the TaskPipeline, not here.
// Errors: an Error naming the task and the option ("tasks config: task_options.
// celeriac.sleep.soft_timelimit: unknown option ..."); start-up only.

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "worker/tasks/llm_tasks_config.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

// `base` with one task's options object laid over it, or an Error naming `task` and the
// option for an unknown option or a wrong value.
[[nodiscard]] common::Result<TaskOptions> mergeTaskOptions(TaskOptions base,
                                                           const std::string& task,
                                                           const nlohmann::json& options);

// The `task_options` section of a tasks config document (empty when absent), each
// task's options checked as mergeTaskOptions() checks them.
[[nodiscard]] common::Result<std::map<std::string, nlohmann::json>> parseTaskOptionsSection(
    const nlohmann::json& doc);

// Lays each task's options over its registered ones. A task name that is not
// registered is an error naming it, unless it is in `served_elsewhere` (the LLM tasks
// named in the same file while this worker runs without a balancer).
[[nodiscard]] common::Result<void> applyTaskOptions(
    TaskRegistry& registry, const std::map<std::string, nlohmann::json>& section,
    const std::set<std::string>& served_elsewhere);

// Reads `file` (YAML or JSON; nothing when empty), checks its task_options, validates
// the whole file against its schema, and applies the options to `registry`.
[[nodiscard]] common::Result<void> configureTaskOptions(TaskRegistry& registry,
                                                        const std::filesystem::path& file,
                                                        const std::filesystem::path& data_root);

}  // namespace celeriac::worker::tasks
