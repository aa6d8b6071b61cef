#include "worker/tasks/json_llm_task.h"

#include "worker/tasks/json_llm_call.h"
#include "worker/tasks/llm_errors.h"
#include "worker/tasks/llm_task_support.h"

namespace celeriac::worker::tasks {

common::Result<JsonLlmTask> JsonLlmTask::load(
    const LlmTaskSpec& spec, const std::filesystem::path& schema_dir, const Schemas& schemas,
    const std::set<std::string, std::less<>>& prompt_placeholders) {
  auto input = SchemaValidator::load(schema_dir, schemas.input);
  if (!input) return input.error();
  auto output = SchemaValidator::load(schema_dir, schemas.output);
  if (!output) return output.error();
  auto system = PromptTemplate::fromFile(spec.system_prompt, prompt_placeholders);
  if (!system) return system.error();
  auto user = PromptTemplate::fromFile(spec.user_prompt, prompt_placeholders);
  if (!user) return user.error();
  auto repair = PromptTemplate::fromFile(spec.repair_prompt, {"errors"});
  if (!repair) return repair.error();
  return JsonLlmTask(spec, std::move(*input), std::move(*output), std::move(*system),
                     std::move(*user), std::move(*repair));
}

JsonLlmTask::JsonLlmTask(LlmTaskSpec spec, SchemaValidator input_schema,
                         SchemaValidator output_schema, PromptTemplate system_prompt,
                         PromptTemplate user_prompt, PromptTemplate repair_prompt)
    : spec_(std::move(spec)),
      input_schema_(std::move(input_schema)),
      output_schema_(std::move(output_schema)),
      system_prompt_(std::move(system_prompt)),
      user_prompt_(std::move(user_prompt)),
      repair_prompt_(std::move(repair_prompt)) {}

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
