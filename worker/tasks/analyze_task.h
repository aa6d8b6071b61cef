#pragma once
// AnalyzeTask: `gpt5_analyzer.analyze`, the multimodal analysis of a waste photo.
//
// Call shapes (Python), all equivalent:
//   analyze({"image": ..., "user_id": ..., "locale": "ko", "hint": ..., "routing": {...}})
//   analyze(image=..., user_id=..., locale="ko", hint=None, routing=None)
//   analyze(image, user_id, locale="ko", hint=None, routing=None)   # positional
// Keyword arguments override the dict / positional values, so a chain step that
// receives the uploader's dict (or URL string) can add `user_id=` in its signature.
// Input rules: schemas/analyze_input.schema.json (image is an https URL or a base64
// data:image/(png|jpeg|webp|gif) URL; locale defaults to "ko"; hint <= 500 chars;
// routing {task_type, priority} overrides the configured balancer route).
// Result: schemas/analysis_result.schema.json: {items[], overall_category, reason, meta}.
//
// Flow: bind arguments -> validate (ValidationError, no LLM call) -> one chat request
// (system prompt, user text + image part, JSON mode) through the balancer ->
// JsonLlmCall (parse, validate, one repair) -> project to the schema's keys + meta.
// Loop thread only; the object is immutable after construction and shared by all runs.

#include <memory>

#include <nlohmann/json.hpp>

#include "balancer/balancer.h"
#include "common/result.h"
#include "worker/tasks/json_llm_task.h"
#include "worker/tasks/llm_tasks_config.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

class AnalyzeTask {
 public:
  // Loads the schemas and prompts, or says which one is missing or broken.
  [[nodiscard]] static common::Result<AnalyzeTask> load(const LlmTaskSpec& spec,
                                                        const std::filesystem::path& schema_dir);

  // The TaskHandler body. The Balancer must outlive the returned run.
  std::unique_ptr<TaskRun> run(const TaskContext& ctx, TaskDone done,
                               balancer::Balancer& balancer) const;

  // The arguments as one object (before validation and defaults), or an Error when
  // their shape is wrong (e.g. too many positional arguments).
  static common::Result<nlohmann::json> bindArguments(const celery::TaskMessage& message);

  // The ChatRequest for a validated input with defaults applied (exposed for tests).
  [[nodiscard]] balancer::ChatRequest buildRequest(const nlohmann::json& input) const;

 private:
  explicit AnalyzeTask(JsonLlmTask task) : task_(std::move(task)) {}

  JsonLlmTask task_;
};

}  // namespace celeriac::worker::tasks
