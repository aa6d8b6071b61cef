#include "worker/tasks/llm_tasks_config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/yaml_to_json.h"
#include "worker/tasks/schema_validator.h"

namespace celeriac::worker::tasks {

namespace {

using nlohmann::json;

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p) {
  const std::filesystem::path path(p);
  return path.is_absolute() ? path : (base / path).lexically_normal();
}

void overlay(LlmTaskSpec& spec, const json& doc, const std::filesystem::path& base) {
  if (const auto it = doc.find("name"); it != doc.end()) spec.name = it->get<std::string>();
  if (const auto it = doc.find("queue"); it != doc.end()) spec.queue = it->get<std::string>();
  for (auto [key, field] : {std::pair{"system_prompt", &spec.system_prompt},
                            std::pair{"user_prompt", &spec.user_prompt},
                            std::pair{"repair_prompt", &spec.repair_prompt}}) {
    if (const auto it = doc.find(key); it != doc.end())
      *field = resolve(base, it->get<std::string>());
  }
  if (const auto routing = doc.find("routing"); routing != doc.end()) {
    if (const auto it = routing->find("task_type"); it != routing->end()) {
      spec.task_type = it->get<std::string>();
    }
    if (const auto it = routing->find("priority"); it != routing->end()) {
      spec.priority = it->get<std::string>();
    }
  }
  if (const auto it = doc.find("max_tokens"); it != doc.end()) {
    spec.max_tokens = it->get<std::int64_t>();
  }
  if (const auto it = doc.find("temperature"); it != doc.end()) {
    spec.temperature = it->get<double>();
  }
  if (const auto it = doc.find("timeout_s"); it != doc.end()) {
    spec.timeout = std::chrono::milliseconds(std::llround(it->get<double>() * 1000.0));
  }
}

}  // namespace

LlmTasksConfig LlmTasksConfig::defaults(const std::filesystem::path& data_root) {
  const auto prompts = data_root / "worker" / "tasks" / "prompts";
  LlmTasksConfig c;
  c.schema_dir = data_root / "schemas";
  c.analyze.name = "gpt5_analyzer.analyze";
  c.analyze.queue = "gpt5-analyzer";
  c.analyze.system_prompt = prompts / "analyze_system.txt";
  c.analyze.user_prompt = prompts / "analyze_user.txt";
  c.analyze.repair_prompt = prompts / "repair.txt";
  c.analyze.task_type = "waste_analysis";
  c.analyze.priority = "normal";
  c.generate.name = "response_generator.generate";
  c.generate.queue = "response-generator";
  c.generate.system_prompt = prompts / "generate_system.txt";
  c.generate.user_prompt = prompts / "generate_user.txt";
  c.generate.repair_prompt = prompts / "repair.txt";
  c.generate.task_type = "response_generation";
  c.generate.priority = "normal";
  return c;
}

common::Result<json> yamlToJson(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {  // yaml-cpp's own way to refuse; stops here
    return common::Error{std::string("not valid YAML: ") + e.what()};
  }
  auto doc = common::yamlToJson(root);
  if (!doc) return doc.error().in("LLM tasks config");
  return doc;
}

common::Result<LlmTasksConfig> parseLlmTasksConfig(const json& doc,
                                                   const std::filesystem::path& base_dir,
                                                   const std::filesystem::path& data_root) {
  LlmTasksConfig config = LlmTasksConfig::defaults(data_root);
  const json effective = doc.is_null() ? json::object() : doc;  // an empty file is fine
  const auto schema = SchemaValidator::load(config.schema_dir, "llm_tasks_config.schema.json");
  if (!schema) return schema.error();
  if (auto errors = schema->validate(effective); !errors.empty()) {
    return common::Error{"LLM tasks config: " + joinErrors(errors)};
  }
  if (const auto it = effective.find("schema_dir"); it != effective.end()) {
    config.schema_dir = resolve(base_dir, it->get<std::string>());
  }
  if (const auto tasks = effective.find("tasks"); tasks != effective.end()) {
    if (const auto it = tasks->find("analyze"); it != tasks->end())
      overlay(config.analyze, *it, base_dir);
    if (const auto it = tasks->find("generate"); it != tasks->end())
      overlay(config.generate, *it, base_dir);
  }
  if (config.analyze.name == config.generate.name) {
    return common::Error{"LLM tasks config: tasks.analyze.name and tasks.generate.name are both " +
                         config.analyze.name};
  }
  return config;
}

common::Result<LlmTasksConfig> loadLlmTasksConfig(const std::filesystem::path& file,
                                                  const std::filesystem::path& data_root) {
  std::ifstream in(file);
  if (!in) return common::Error{"cannot read LLM tasks config " + file.string()};
  std::ostringstream text;
  text << in.rdbuf();
  const auto doc = yamlToJson(text.str());
  if (!doc) return doc.error();
  return parseLlmTasksConfig(*doc, file.parent_path(), data_root);
}

}  // namespace celeriac::worker::tasks
