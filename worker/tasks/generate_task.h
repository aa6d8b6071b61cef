#pragma once
// GenerateTask: `response_generator.generate`, the answer the user reads.
//
// Signature (Python): generate(analysis, rules=None, locale="ko", question=None,
// routing=None). In a Celery chain the previous task's return value arrives as the
// first positional argument; three shapes of it are accepted:
//   1. the analysis result itself ({items, overall_category, reason, meta}), with rules
//      given as a keyword (generate.s(rules=...)) or second positional argument;
//   2. a wrapper {"analysis": {...}, "rules": ..., "locale"?, "question"?} - what a
//      rule-retriever step that passes the analysis along would return;
//   3. the analysis dict with a "rules" key added by such a step.
// Keyword arguments override values found in the first argument. Everything may also
// be given by keyword alone: generate(analysis=..., rules=..., ...).
// Input rules: schemas/generate_input.schema.json (rules: an object or an array).
// Result: schemas/generate_result.schema.json: {answer, steps[], meta}.
// Loop thread only; immutable after construction and shared by all runs.

#include <memory>

#include <nlohmann/json.hpp>

#include "balancer/balancer.h"
#include "common/result.h"
#include "worker/tasks/json_llm_task.h"
#include "worker/tasks/llm_tasks_config.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

class GenerateTask {
 public:
  // Loads the schemas and prompts, or says which one is missing or broken.
  [[nodiscard]] static common::Result<GenerateTask> load(const LlmTaskSpec& spec,
                                                         const std::filesystem::path& schema_dir);

  // The TaskHandler body. The Balancer must outlive the returned run.
  std::unique_ptr<TaskRun> run(const TaskContext& ctx, TaskDone done,
                               balancer::Balancer& balancer) const;

  // The arguments as {analysis, rules, locale?, question?, routing?} (before validation
  // and defaults), or an Error when their shape is wrong.
  static common::Result<nlohmann::json> bindArguments(const celery::TaskMessage& message);

  // The ChatRequest for a validated input with defaults applied (exposed for tests).
  [[nodiscard]] balancer::ChatRequest buildRequest(const nlohmann::json& input) const;

 private:
  explicit GenerateTask(JsonLlmTask task) : task_(std::move(task)) {}

  JsonLlmTask task_;
};

}  // namespace celeriac::worker::tasks
