#include "worker/tasks/json_llm_task.h"

#include "worker/tasks/json_llm_call.h"
#include "worker/tasks/llm_errors.h"
#include "worker/tasks/llm_task_support.h"

namespace celeriac::worker::tasks {

JsonLlmTask::JsonLlmTask(const LlmTaskSpec& spec, const std::filesystem::path& schema_dir,
                         const Schemas& schemas,
                         const std::set<std::string, std::less<>>& prompt_placeholders)
    : spec_(spec),
      input_schema_(schema_dir, schemas.input),
      output_schema_(schema_dir, schemas.output),
      system_prompt_(PromptTemplate::fromFile(spec.system_prompt, prompt_placeholders)),
      user_prompt_(PromptTemplate::fromFile(spec.user_prompt, prompt_placeholders)),
      repair_prompt_(PromptTemplate::fromFile(spec.repair_prompt, {"errors"})) {}

std::optional<celery::ExceptionInfo> JsonLlmTask::checkInput(
    const common::Result<nlohmann::json>& input) const {
  if (!input) return validationError(input.error().message);
  if (auto errors = input_schema_.validate(*input); !errors.empty()) {
    return validationError(errors);
  }
  return std::nullopt;
}

std::unique_ptr<TaskRun> JsonLlmTask::call(const TaskContext& ctx, TaskDone done,
                                           balancer::Balancer& balancer,
                                           const nlohmann::json& input,
                                           balancer::ChatRequest request,
                                           Projection project) const {
  applyTaskOptions(request, spec_, input, ctx.message);
  return JsonLlmCall::start(balancer, std::move(request), output_schema_, repair_prompt_,
                            ctx.message.id,
                            [done = std::move(done), project](JsonLlmOutcome outcome) {
                              if (!outcome.ok) {
                                done(std::visit([](auto failure) -> TaskOutcome { return failure; },
                                                std::move(outcome.failure)));
                                return;
                              }
                              // This runs from a balancer callback under a C trampoline:
                              // a projection that throws fails this task, not the process.
                              TaskOutcome result;
                              try {
                                result = Success{project(outcome.value, outcome.meta)};
                              } catch (const std::exception& e) {
                                result = Failure{celery::fromCppException(e)};
                              }
                              done(std::move(result));
                            });
}

}  // namespace celeriac::worker::tasks
