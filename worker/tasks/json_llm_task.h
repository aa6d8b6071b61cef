#pragma once
// JsonLlmTask: what every LLM task that answers in JSON shares, so AnalyzeTask and
// GenerateTask only say what differs (argument shapes, the request, the projection).
//
// It owns the task's spec, its input and output schemas and its three prompts, and runs
// the common tail of a task: input validation (ValidationError, before any token is
// spent) and the call itself (task options -> JsonLlmCall with one repair -> the
// task's projection of the answer plus meta).
// Immutable after construction; shared by all runs of a task. Loop thread only.

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "balancer/balancer.h"
#include "common/result.h"
#include "worker/tasks/llm_meta.h"
#include "worker/tasks/llm_tasks_config.h"
#include "worker/tasks/prompt_template.h"
#include "worker/tasks/schema_validator.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

class JsonLlmTask {
 public:
  struct Schemas {
    std::string input;   // file name in the schema directory
    std::string output;  // the model's part of the result, e.g. "x.schema.json#/definitions/y"
  };
  // Loads the schemas and prompts, or says which one is missing or broken.
  [[nodiscard]] static common::Result<JsonLlmTask> load(
      const LlmTaskSpec& spec, const std::filesystem::path& schema_dir, const Schemas& schemas,
      const std::set<std::string, std::less<>>& prompt_placeholders);

  // nullopt when the arguments were bound and satisfy the input schema; otherwise the
  // ValidationError to fail with (the binding's Error message when binding failed).
  [[nodiscard]] std::optional<celery::ExceptionInfo> checkInput(
      const common::Result<nlohmann::json>& input) const;

  // The model's validated answer (only the schema's keys are read) -> the task result.
  using Projection = nlohmann::json (*)(const nlohmann::json& answer, const LlmMeta& meta);

  // Applies the task's options to `request`, calls the model through the balancer
  // (parse, validate, one repair) and completes `done` with the projection or the
  // failure. The Balancer must outlive the returned run.
  std::unique_ptr<TaskRun> call(const TaskContext& ctx, TaskDone done, balancer::Balancer& balancer,
                                const nlohmann::json& input, balancer::ChatRequest request,
                                Projection project) const;

  [[nodiscard]] const PromptTemplate& systemPrompt() const { return system_prompt_; }
  [[nodiscard]] const PromptTemplate& userPrompt() const { return user_prompt_; }

 private:
  JsonLlmTask(LlmTaskSpec spec, SchemaValidator input_schema, SchemaValidator output_schema,
              PromptTemplate system_prompt, PromptTemplate user_prompt,
              PromptTemplate repair_prompt);

  LlmTaskSpec spec_;
  SchemaValidator input_schema_;
  SchemaValidator output_schema_;
  PromptTemplate system_prompt_;
  PromptTemplate user_prompt_;
  PromptTemplate repair_prompt_;
};

}  // namespace celeriac::worker::tasks
