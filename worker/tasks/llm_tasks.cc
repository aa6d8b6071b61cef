#include "worker/tasks/llm_tasks.h"

#include <chrono>
#include <memory>

#include "worker/tasks/analyze_task.h"
#include "worker/tasks/generate_task.h"

namespace celeriac::worker::tasks {

common::Result<void> registerLlmTasks(TaskRegistry& registry, balancer::Balancer& balancer,
                                      const LlmTasksConfig& config) {
  auto analyze_loaded = AnalyzeTask::load(config.analyze, config.schema_dir);
  if (!analyze_loaded) return analyze_loaded.error();
  auto generate_loaded = GenerateTask::load(config.generate, config.schema_dir);
  if (!generate_loaded) return generate_loaded.error();
  // shared_ptr: TaskHandler is a copyable std::function; every copy uses one loaded task.
  auto analyze = std::make_shared<const AnalyzeTask>(std::move(*analyze_loaded));
  auto generate = std::make_shared<const GenerateTask>(std::move(*generate_loaded));
  registry.add(config.analyze.name, [analyze, &balancer](const TaskContext& ctx, TaskDone done) {
    return analyze->run(ctx, std::move(done), balancer);
  });
  registry.add(config.generate.name, [generate, &balancer](const TaskContext& ctx, TaskDone done) {
    return generate->run(ctx, std::move(done), balancer);
  });
  // The seed's get_stats() as a Celery task: the replica that takes it answers with its
  // Balancer's stats (endpoints, models, buckets, breakers, alerts; never a secret).
  registry.add(kLlmStatsTask, [&balancer](const TaskContext& ctx, TaskDone done) {
    return TimerRun::start(ctx.dispatcher, std::chrono::milliseconds(0), Success{balancer.stats()},
                           std::move(done));
  });
  return {};
}

}  // namespace celeriac::worker::tasks
