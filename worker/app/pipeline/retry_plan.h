#pragma once
// planRetry(): what the pipeline does when a handler completes with
// a tasks::Retry outcome (Celery's `raise self.retry(...)`).
//
//   retry requested ─ retries left? (task.retries + 1 <= max_retries) ─ no ─▶ fail with
//        │                                   exc, or MaxRetriesExceededError
//        ▼ yes
//   new message: same id, retries + 1, eta = now + countdown
//        │ countdown > eta hold limit and delay tiers exist? ─ yes ─▶ park it in a tier
//        ▼ no                                                     (dead-letters back
//   back to the queue it came from (exchange/routing key as delivered)   to its queue)
//
// The pipeline then stores the RETRY record, publishes the message with a confirm and
// acks the original once both are durable (TaskPipeline::republishThenAck).
// What not: no I/O and no clock read (`ctx.now` is the retry's time); the RETRY record
// and the message themselves come from worker/celery/task_retry.h.
// Ownership: pure function returning a value.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "worker/amqp/amqp_types.h"
#include "worker/amqp/topology.h"
#include "worker/celery/canvas.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/result_document.h"
#include "worker/celery/task_message.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::app::pipeline {

// Where a retry may go besides its own queue.
struct RetryRouting {
  std::chrono::milliseconds eta_hold_limit{10'000};
  std::vector<amqp::DelayTier> delay_tiers;  // shortest first; empty: never park
};

struct RetryPlan {
  // Set: the task may not retry; it fails with this (no message, no RETRY record).
  std::optional<celery::ExceptionInfo> failure;
  celery::ResultRecord record;    // the RETRY document, for the run that asked
  amqp::OutgoingMessage message;  // the new message, routed
  std::chrono::milliseconds countdown{0};
  int retries = 0;   // the new message's retries header
  std::string tier;  // the delay tier it is parked in; empty: published to its queue
};

// `delivery` and `task` are the run that asked (task.retries = n); `options` its task's
// max_retries and default_retry_delay. A negative countdown counts as zero. A request
// whose message cannot be rebuilt (malformed canvas fields) fails with
// InvalidTaskError naming the problem rather than being lost.
RetryPlan planRetry(const amqp::Delivery& delivery, const celery::TaskMessage& task,
                    const tasks::TaskOptions& options, const tasks::Retry& request,
                    const RetryRouting& routing, const celery::CanvasContext& ctx);

}  // namespace celeriac::worker::app::pipeline
