// TaskPipeline: Celery's per-task options (task_registry.h TaskOptions, from the tasks
// config) where they change how the pipeline treats a task: starting rate and time
// limits, start order and poison limit (autoretry_for and acks_on_failure_or_timeout
// are pipeline/settlement.cc's). See task_pipeline.h for the contracts.

#include "worker/app/task_pipeline.h"

namespace celeriac::worker::app {

void TaskPipeline::applyTaskDefaults() {
  // Celery keeps these on the Task class and the rate_limit / time_limit control
  // commands overwrite them there: the configured values are where they start.
  for (const std::string& name : registry_.names()) {
    const tasks::TaskOptions& o = registry_.find(name)->options;
    if (!o.rate_limit.empty()) {
      const Result<celery::RateLimit> parsed = celery::parseRateLimit(o.rate_limit);
      if (parsed) rate_limits_.set(name, *parsed, dispatcher_.clock().now());
    }
    if (o.time_limit || o.soft_time_limit) {
      time_limits_.setForTask(name, o.soft_time_limit, o.time_limit);
    }
  }
}

int TaskPipeline::priorityOf(const Job& job) const {
  // The message's own priority wins, as the broker orders by it; the task's configured
  // priority stands in for messages sent without one (RabbitMQ counts those as 0).
  if (job.message.priority) return *job.message.priority;
  return job.entry->options.priority.value_or(0);
}

int TaskPipeline::maxCrashesFor(const Job& job) const {
  const std::optional<bool>& reject = job.entry->options.reject_on_worker_lost;
  if (!reject) return options_.max_task_crashes;
  // true: Celery requeues the message whenever the worker is lost under it (never
  // poison); false: Celery fails it with WorkerLostError the first time.
  return *reject ? 0 : 1;
}

}  // namespace celeriac::worker::app
