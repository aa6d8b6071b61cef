#pragma once
// LlmTasksConfig: names, queues, prompt files and balancer routes of the LLM tasks.
//
// What for: `registerLlmTasks` (llm_tasks.h) reads it; the app reads `queue` to consume.
// Built from the shipped defaults, optionally overlaid with a YAML (or JSON) file that
// is validated against schemas/llm_tasks_config.schema.json first. Example:
//
//   tasks:
//     analyze:
//       name: gpt5_analyzer.analyze
//       queue: gpt5-analyzer
//       system_prompt: prompts/analyze_system.txt   # relative to this file
//       routing: {task_type: waste_analysis, priority: high}
//       timeout_s: 45
//     generate:
//       routing: {priority: fast}
//
// The route (task_type x priority) must exist in the balancer config's `routes`; an
// unknown route makes every call fail with LlmCallerError, so the app should check it at
// start-up. Errors are Results (start-up only) naming the field.
// Plain values; no thread affinity.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace celeriac::worker::tasks {

struct LlmTaskSpec {
  std::string name;   // registered Celery task name
  std::string queue;  // queue the Python side routes it to
  std::filesystem::path system_prompt;
  std::filesystem::path user_prompt;
  std::filesystem::path repair_prompt;
  std::string task_type;  // balancer route ...
  std::string priority;   // ... and its priority; a task's `routing` argument overrides
  std::optional<std::int64_t> max_tokens;            // else the balancer's
  std::optional<double> temperature;                 // else the endpoint's (GPT-5 class
                                                     // models accept only the default)
  std::optional<std::chrono::milliseconds> timeout;  // else the balancer's
};

struct LlmTasksConfig {
  std::filesystem::path schema_dir;  // holds analyze_input.schema.json etc.
  LlmTaskSpec analyze;
  LlmTaskSpec generate;

  // The shipped defaults: gpt5_analyzer.analyze on gpt5-analyzer with route
  // waste_analysis/normal, response_generator.generate on response-generator with route
  // response_generation/normal, schemas in data_root/schemas, prompts in
  // data_root/worker/tasks/prompts. `data_root` is the repository (or the image's copy
  // of its schemas/ and worker/tasks/prompts/).
  static LlmTasksConfig defaults(const std::filesystem::path& data_root);
};

// Reads `file` (YAML or JSON), validates it, overlays it on defaults(data_root);
// relative paths in it are resolved against the file's directory. An Error says what is
// wrong and where.
[[nodiscard]] common::Result<LlmTasksConfig> loadLlmTasksConfig(
    const std::filesystem::path& file, const std::filesystem::path& data_root);

// The same from an already parsed document (a section of a larger config, tests).
[[nodiscard]] common::Result<LlmTasksConfig> parseLlmTasksConfig(
    const nlohmann::json& doc, const std::filesystem::path& base_dir,
    const std::filesystem::path& data_root);

// YAML text as JSON (common/yaml_to_json.h, as the balancer's config): plain scalars
// become null, booleans and numbers where YAML 1.2's core schema says so (`yes`/`on` stay
// strings); quoted scalars stay strings. An Error for a YAML syntax error and, naming
// the path, for a key given twice, a key that is a list or a map, or a string that is
// not valid UTF-8.
[[nodiscard]] common::Result<nlohmann::json> yamlToJson(const std::string& yaml_text);

}  // namespace celeriac::worker::tasks
