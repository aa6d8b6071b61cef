#include "worker/app/pipeline/retry_plan.h"

#include <algorithm>

#include "worker/app/pipeline/outgoing_message.h"
#include "worker/app/parking.h"
#include "worker/celery/task_retry.h"

namespace celeriac::worker::app::pipeline {

RetryPlan planRetry(const amqp::Delivery& delivery, const celery::TaskMessage& task,
                    const tasks::TaskOptions& options, const tasks::Retry& request,
                    const RetryRouting& routing, const celery::CanvasContext& ctx) {
  RetryPlan plan;
  // Celery 5.2 checks the limit before anything is published (task.py `retry`).
  if (!celery::mayRetry(task, options.max_retries)) {
    plan.failure = celery::retriesExhausted(task, request.exc);
    return plan;
  }
  plan.countdown = std::max(std::chrono::milliseconds(0),
                            request.countdown.value_or(options.default_retry_delay));
  common::Result<celery::OutboundMessage> built = celery::retryMessage(task, plan.countdown, ctx);
  if (!built) {
    plan.failure = celery::invalidTask(
        built.error().in("cannot retry " + task.task + "[" + task.id + "]").message);
    return plan;
  }
  plan.retries = task.retries + 1;
  plan.record = celery::retryStateRecord(task, request.exc, plan.countdown);
  plan.message = toOutgoing(std::move(built).value());
  // A retry is a new message: an earlier park of this one says nothing about it (the
  // maximum parked time must not count from a park before this run).
  stripParkHeaders(plan.message.headers);
  if (plan.countdown > routing.eta_hold_limit && !routing.delay_tiers.empty()) {
    const auto tier = pickTier(routing.delay_tiers, plan.countdown);
    plan.tier = tier->name;
    plan.message = parkedCopy(std::move(plan.message), delivery.queue, *tier, "retry", ctx.now);
  }
  return plan;
}

}  // namespace celeriac::worker::app::pipeline
