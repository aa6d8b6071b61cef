#include "worker/tasks/analyze_task.h"

#include <array>

#include "worker/tasks/llm_errors.h"
#include "worker/tasks/llm_task_support.h"

namespace celeriac::worker::tasks {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 5> kSignature = {"image", "user_id", "locale", "hint",
                                                        "routing"};
constexpr std::string_view kDefaultLocale = "ko";
constexpr std::string_view kBase64Marker = ";base64,";

const std::set<std::string, std::less<>> kPromptPlaceholders = {"locale", "hint"};

// The schema checks a long data URL's prefix only (its pattern must stay short for
// std::regex, see the schema); this checks the whole body, with '=' only as padding.
bool isBase64Body(std::string_view body) {
  std::size_t padding = 0;
  for (char c : body) {
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '+' || c == '/';
    if (c == '=') {
      ++padding;
    } else if (!alpha || padding > 0) {
      return false;
    }
  }
  return !body.empty() && padding <= 2;
}

json projectItem(const json& item) {
  return json{{"name", item.at("name")},
              {"category", item.at("category")},
              {"material", item.at("material")},
              {"needs_cleaning", item.at("needs_cleaning")},
              {"needs_separation", item.at("needs_separation")},
              {"confidence", item.at("confidence")}};
}

// The result keeps only the schema's keys: a model's extra keys (or its own "meta")
// never reach the caller.
json projectAnalysis(const json& value, const LlmMeta& meta) {
  json items = json::array();
  for (const auto& item : value.at("items")) items.push_back(projectItem(item));
  return json{{"items", std::move(items)},
              {"overall_category", value.at("overall_category")},
              {"reason", value.at("reason")},
              {"meta", meta.toJson()}};
}

}  // namespace

common::Result<AnalyzeTask> AnalyzeTask::load(const LlmTaskSpec& spec,
                                              const std::filesystem::path& schema_dir) {
  auto task = JsonLlmTask::load(
      spec, schema_dir,
      {"analyze_input.schema.json", "analysis_result.schema.json#/definitions/analysis"},
      kPromptPlaceholders);
  if (!task) return task.error();
  return AnalyzeTask(std::move(*task));
}

common::Result<json> AnalyzeTask::bindArguments(const celery::TaskMessage& message) {
  // analyze(payload_dict): the dict is the whole input; kwargs still override.
  if (message.args.is_array() && message.args.size() == 1 && message.args[0].is_object()) {
    json bound = message.args[0];
    if (message.kwargs.is_object()) {
      for (const auto& [key, value] : message.kwargs.items()) bound[key] = value;
    }
    return bound;
  }
  return bindSignature(message, kSignature);
}

balancer::ChatRequest AnalyzeTask::buildRequest(const json& input) const {
  const std::map<std::string, std::string, std::less<>> values = {
      {"locale", input.value("locale", std::string(kDefaultLocale))},
      {"hint", input.contains("hint") ? input["hint"].get<std::string>() : std::string("none")}};
  balancer::ChatRequest request;
  request.messages.push_back(
      balancer::ChatMessage::text("system", task_.systemPrompt().renderShared(values)));
  request.messages.push_back(balancer::ChatMessage{
      "user",
      {balancer::ContentPart::textPart(task_.userPrompt().render(values)),
       balancer::ContentPart::imagePart(input.at("image").get<std::string>())}});
  return request;
}

std::unique_ptr<TaskRun> AnalyzeTask::run(const TaskContext& ctx, TaskDone done,
                                          balancer::Balancer& balancer) const {
  auto input = bindArguments(ctx.message);
  if (auto error = task_.checkInput(input)) {
    return failLater(ctx, std::move(done), std::move(*error));
  }
  const auto& image = (*input)["image"].get_ref<const std::string&>();
  if (image.starts_with("data:")) {
    const auto marker = image.find(kBase64Marker);
    if (marker == std::string::npos ||
        !isBase64Body(std::string_view(image).substr(marker + kBase64Marker.size()))) {
      return failLater(ctx, std::move(done),
                       validationError("image: the data URL body must be base64 "
                                       "(A-Z a-z 0-9 + / with at most two = of padding)"));
    }
  }
  if (!input->contains("locale")) (*input)["locale"] = kDefaultLocale;

  return task_.call(ctx, std::move(done), balancer, *input, buildRequest(*input), projectAnalysis);
}

}  // namespace celeriac::worker::tasks
