#pragma once
// Republisher: the paths that send a task message out again instead of settling it
// here, and the backpressure that goes with them.
//
//   ETA far ahead ──park(): publish the message into a delay tier ─confirmed─▶ ack
//   every model down ──parkUnavailable(): store RETRY ─▶ park ─confirmed─▶ ack, and
//        lower prefetch until the balancer's retry time (other replicas take the work)
//   Task.retry ──retry(): retries left? store RETRY ─▶ publish the copy (retries + 1,
//        eta; to its queue or a delay tier) ─confirmed─▶ ack
//
// What for: at-least-once across a republish: the original is acked only once the broker
// confirmed the copy (and the RETRY is stored); an unconfirmed copy sends the original
// back to its queue. A delay tier is a queue whose TTL dead-letters the message back to
// its own queue (worker/amqp/topology.h; parking.h builds the parked copy).
// What not: no decision to park an ETA (the pipeline compares it with the hold limit);
// the retry plan itself is retry_plan.h's.
// Ownership: borrows the Context, the ResultWriter and the Publisher; owns the
// backpressure timer. Loop thread only.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "worker/app/pipeline/context.h"
#include "worker/app/pipeline/job.h"
#include "worker/app/pipeline/publisher.h"
#include "worker/app/pipeline/result_writer.h"
#include "worker/celery/exception_info.h"
#include "worker/tasks/task_outcome.h"

namespace celeriac::worker::app::pipeline {

class Republisher {
 public:
  // `prefetch_changed` runs when backpressure starts or ends (the pipeline sends the
  // basic.qos that goes with it).
  Republisher(Context context, ResultWriter& writer, Publisher& publisher,
              std::function<void()> prefetch_changed);
  ~Republisher();
  Republisher(const Republisher&) = delete;
  Republisher& operator=(const Republisher&) = delete;

  // Parks `job` in the delay tier that fits `delay` (`reason` goes into its headers).
  void park(std::unique_ptr<Job> job, std::chrono::milliseconds delay, const std::string& reason);
  // Every model was down: store RETRY, park the message, ack once both are durable.
  // Returns false when the task must fail instead (parked too long, or no tiers).
  bool parkUnavailable(Job& job, const tasks::Unavailable& unavailable);
  // The handler asked to be retried (retry_plan.h): stores RETRY and republishes the
  // task, returning nullopt; or returns the exception the task fails with instead (no
  // retries left, no publisher, a message that cannot be rebuilt).
  std::optional<celery::ExceptionInfo> retry(Job& job, const tasks::Retry& request);
  // True while every model is down: the prefetch is lowered (backpressure_prefetch).
  [[nodiscard]] bool backpressure() const { return backpressure_; }

 private:
  // Shared by parking and retries: store `record` (unless the task ignores results),
  // then publish `out` with a confirm, then ack the delivery; an unconfirmed publish
  // sends the delivery back to its queue.
  void republishThenAck(Job& job, celery::ResultRecord record, amqp::OutgoingMessage out);
  void applyBackpressure(std::chrono::system_clock::time_point until);

  Context context_;
  ResultWriter& writer_;
  Publisher& publisher_;
  std::function<void()> prefetch_changed_;
  bool backpressure_ = false;
  common::TimerId backpressure_timer_ = 0;
};

}  // namespace celeriac::worker::app::pipeline
