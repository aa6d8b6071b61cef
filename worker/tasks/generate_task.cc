#include "worker/tasks/generate_task.h"

#include <array>

#include "worker/tasks/llm_errors.h"
#include "worker/tasks/llm_task_support.h"

namespace celeriac::worker::tasks {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 5> kSignature = {"analysis", "rules", "locale", "question",
                                                        "routing"};
constexpr std::string_view kDefaultLocale = "ko";
// Keys a rule-retriever step may carry along next to the analysis (shapes 2 and 3).
constexpr std::array<std::string_view, 4> kCarriedKeys = {"rules", "locale", "question", "routing"};

const std::set<std::string, std::less<>> kPromptPlaceholders = {"locale", "analysis", "rules",
                                                                "question"};

// The analysis as the model sees it: the worker's meta is bookkeeping, not content.
json analysisForPrompt(const json& analysis) {
  json out = analysis;
  out.erase("meta");
  return out;
}

json projectStep(const json& step) {
  json out{{"order", step.at("order")}, {"action", step.at("action")}};
  if (step.contains("item")) out["item"] = step["item"];
  return out;
}

json projectGeneration(const json& value, const LlmMeta& meta) {
  json steps = json::array();
  for (const auto& step : value.at("steps")) steps.push_back(projectStep(step));
  return json{{"answer", value.at("answer")}, {"steps", std::move(steps)}, {"meta", meta.toJson()}};
}

}  // namespace

common::Result<GenerateTask> GenerateTask::load(const LlmTaskSpec& spec,
                                                const std::filesystem::path& schema_dir) {
  auto task = JsonLlmTask::load(
      spec, schema_dir,
      {"generate_input.schema.json", "generate_result.schema.json#/definitions/generation"},
      kPromptPlaceholders);
  if (!task) return task.error();
  return GenerateTask(std::move(*task));
}

common::Result<json> GenerateTask::bindArguments(const celery::TaskMessage& message) {
  // Unwrap the first argument before kwargs apply, so kwargs still win.
  celery::TaskMessage positional_only;
  positional_only.args = message.args;
  auto bound = bindSignature(positional_only, kSignature);
  if (!bound) return bound;
  if (const auto first = bound->find("analysis"); first != bound->end() && first->is_object()) {
    json carried = json::object();
    json analysis;
    if (first->contains("analysis") && (*first)["analysis"].is_object()) {  // shape 2
      analysis = (*first)["analysis"];
      for (const auto& [key, value] : first->items()) {
        if (key != "analysis") carried[key] = value;  // unknown keys: the schema names them
      }
    } else {  // shapes 1 and 3
      analysis = *first;
      for (auto key : kCarriedKeys) {
        const std::string k(key);
        if (analysis.contains(k)) {
          carried[k] = analysis[k];
          analysis.erase(k);
        }
      }
    }
    // Explicit positional values (rules as the second argument) beat carried ones.
    for (const auto& [key, value] : carried.items()) {
      if (!bound->contains(key)) (*bound)[key] = value;
    }
    (*bound)["analysis"] = std::move(analysis);
  }
  if (message.kwargs.is_object()) {
    for (const auto& [key, value] : message.kwargs.items()) (*bound)[key] = value;
  }
  return bound;
}

balancer::ChatRequest GenerateTask::buildRequest(const json& input) const {
  const std::map<std::string, std::string, std::less<>> values = {
      {"locale", input.value("locale", std::string(kDefaultLocale))},
      {"analysis", analysisForPrompt(input.at("analysis")).dump(2)},
      {"rules", input.at("rules").dump(2)},
      {"question",
       input.contains("question") ? input["question"].get<std::string>() : std::string("none")}};
  balancer::ChatRequest request;
  request.messages.push_back(
      balancer::ChatMessage::text("system", task_.systemPrompt().renderShared(values)));
  request.messages.push_back(
      balancer::ChatMessage::text("user", task_.userPrompt().render(values)));
  return request;
}

std::unique_ptr<TaskRun> GenerateTask::run(const TaskContext& ctx, TaskDone done,
                                           balancer::Balancer& balancer) const {
  auto input = bindArguments(ctx.message);
  if (auto error = task_.checkInput(input)) {
    return failLater(ctx, std::move(done), std::move(*error));
  }
  if (!input->contains("locale")) (*input)["locale"] = kDefaultLocale;

  return task_.call(ctx, std::move(done), balancer, *input, buildRequest(*input),
                    projectGeneration);
}

}  // namespace celeriac::worker::tasks
