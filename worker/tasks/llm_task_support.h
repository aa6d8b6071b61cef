#pragma once
// Helpers the LLM tasks share: binding Celery args/kwargs to a Python-like signature,
// the balancer request options of a task, and failing a task on a later loop turn.
// Pure functions over plain values (failLater schedules through the Dispatcher).

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "balancer/chat_request.h"
#include "common/result.h"
#include "worker/celery/task_message.h"
#include "worker/tasks/llm_tasks_config.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

// Binds positional args to `names` in order and merges kwargs over them (a keyword
// wins over a positional value of the same name, unlike Python's TypeError: chain
// steps receive a positional value they cannot drop). Unknown kwargs are kept so the
// input schema reports them by name. An Error for too many positional args.
common::Result<nlohmann::json> bindSignature(const celery::TaskMessage& message,
                                             std::span<const std::string_view> names);

// Sets route (input "routing" overriding the spec), max_tokens, temperature, timeout,
// JSON mode and the capacity-queue priority (the AMQP message priority, 0 if none).
void applyTaskOptions(balancer::ChatRequest& request, const LlmTaskSpec& spec,
                      const nlohmann::json& input, const celery::TaskMessage& message);

// A run that fails with `error` on a later loop turn (`done` never fires inside the
// handler call, per TaskRegistry's contract).
std::unique_ptr<TaskRun> failLater(const TaskContext& ctx, TaskDone done,
                                   celery::ExceptionInfo error);

}  // namespace celeriac::worker::tasks
