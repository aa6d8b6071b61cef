#include "worker/tasks/llm_task_support.h"

namespace celeriac::worker::tasks {

common::Result<nlohmann::json> bindSignature(const celery::TaskMessage& message,
                                             std::span<const std::string_view> names) {
  nlohmann::json bound = nlohmann::json::object();
  const auto& args = message.args;
  if (args.is_array()) {
    if (args.size() > names.size()) {
      return common::Error{"args: takes at most " + std::to_string(names.size()) +
                           " positional arguments but " + std::to_string(args.size()) +
                           " were given"};
    }
    for (std::size_t i = 0; i < args.size(); ++i) bound[std::string(names[i])] = args[i];
  }
  if (message.kwargs.is_object()) {
    for (const auto& [key, value] : message.kwargs.items()) bound[key] = value;
  }
  return bound;
}

void applyTaskOptions(balancer::ChatRequest& request, const LlmTaskSpec& spec,
                      const nlohmann::json& input, const celery::TaskMessage& message) {
  request.task_type = spec.task_type;
  request.priority = spec.priority;
  if (const auto routing = input.find("routing"); routing != input.end() && routing->is_object()) {
    request.task_type = routing->value("task_type", request.task_type);
    request.priority = routing->value("priority", request.priority);
  }
  request.max_tokens = spec.max_tokens;
  request.temperature = spec.temperature;
  request.timeout = spec.timeout;
  // JSON mode: the provider then only returns a syntactically valid JSON object (the
  // schema is still ours to check). OpenAI requires the word "JSON" in the prompt.
  request.response_format = nlohmann::json{{"type", "json_object"}};
  request.queue_priority = message.priority ? static_cast<int>(*message.priority) : 0;
}

std::unique_ptr<TaskRun> failLater(const TaskContext& ctx, TaskDone done,
                                   celery::ExceptionInfo error) {
  return TimerRun::start(ctx.dispatcher, std::chrono::milliseconds(0), Failure{std::move(error)},
                         std::move(done));
}

}  // namespace celeriac::worker::tasks
