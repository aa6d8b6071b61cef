// TaskPipeline: Celery's per-task options (task_registry.h TaskOptions, from the tasks
// config) where they change how the pipeline treats a task: starting rate and time
// limits, start order, poison limit, autoretry_for and what a failure's message gets.
// Split from task_pipeline.cc (see task_pipeline.h for the contracts).
#include <algorithm>

#include "worker/app/task_pipeline.h"
#include "worker/app/task_pipeline_internal.h"
#include "worker/celery/auto_retry.h"

namespace celeriac::worker::app {

void TaskPipeline::applyTaskDefaults() {
  // Celery keeps these on the Task class and the rate_limit / time_limit control
  // commands overwrite them there: the configured values are where they start.
  for (const std::string& name : registry_.names()) {
    const tasks::TaskOptions& o = registry_.find(name)->options;
    if (!o.rate_limit.empty()) {
      const celery::RateLimitParse parsed = celery::parseRateLimit(o.rate_limit);
      if (parsed.limit) rate_limits_.set(name, *parsed.limit, dispatcher_.clock().now());
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

void TaskPipeline::autoRetry(const Job& job, tasks::TaskOutcome& outcome) {
  // Only a Failure: every model down (Unavailable) parks the task, its own retry path,
  // whatever autoretry_for says.
  auto* failure = std::get_if<tasks::Failure>(&outcome);
  if (failure == nullptr) return;
  const tasks::TaskOptions& o = job.entry->options;
  if (o.autoretry_for.empty() || !celery::autoRetryMatches(o.autoretry_for, failure->error)) return;
  // A hard time limit kills the run in Celery before autoretry's except clause could
  // catch anything; a soft one is an exception raised inside the task, so it can retry.
  if (failure->error.type == "TimeLimitExceeded") return;
  std::optional<std::chrono::milliseconds> countdown;  // none: default_retry_delay
  if (o.retry_backoff > 0) {
    countdown = celery::exponentialBackoff(o.retry_backoff, job.message.retries,
                                           o.retry_backoff_max, o.retry_jitter, jitter_rng_());
  }
  outcome = tasks::Retry{std::move(failure->error), countdown};
}

void TaskPipeline::ackSettled(amqp::DeliveryRef ref, bool late, bool drop) {
  if (!late) return;  // acked when it started
  if (drop) {
    ports_.reject(ref, false);
  } else {
    ports_.ack(ref);
  }
}

}  // namespace celeriac::worker::app
