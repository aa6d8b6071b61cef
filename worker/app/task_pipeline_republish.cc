// TaskPipeline: the paths that republish a task instead of settling it here: parking a
// far countdown or a task whose models are all down in a durable delay tier, Celery's
// Task.retry, and the prefetch backpressure while every model is down. Split from
// task_pipeline.cc (see task_pipeline.h for the contracts).
#include <algorithm>

#include "worker/app/parking.h"
#include "worker/app/pipeline/retry_plan.h"
#include "worker/app/task_pipeline_internal.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/iso_time.h"
#include "worker/celery/result_document.h"
#include "worker/tasks/llm_errors.h"

namespace celeriac::worker::app {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

void TaskPipeline::park(std::unique_ptr<Job> job, milliseconds delay, const std::string& reason) {
  const auto tier = pickTier(options_.delay_tiers, delay);
  const amqp::DeliveryRef ref = job->delivery.ref;
  amqp::OutgoingMessage out =
      parkedMessage(job->delivery, *tier, reason, dispatcher_.clock().wallNow());
  taskLog()->info("parked task_id={} reason={} tier={} due_in_ms={} parks={}", job->message.id,
                  reason, tier->name, delay.count(), out.headers[kParkCountHeader].dump());
  ++counters_.parked;
  ++in_flight_.publishing;
  // The original is acked only once the broker confirmed the parked copy: a crash in
  // between leaves two copies at worst (at-least-once), never none.
  ports_.publish(std::move(out), [this, ref, id = job->message.id](bool confirmed) {
    --in_flight_.publishing;
    if (confirmed) {
      ports_.ack(ref);
    } else {
      taskLog()->warn("park of task_id={} not confirmed; returning it to its queue", id);
      ports_.reject(ref, true);
    }
  });
}

bool TaskPipeline::parkUnavailable(Job& job, const tasks::Unavailable& unavailable) {
  const auto now = dispatcher_.clock().wallNow();
  const auto& headers = job.delivery.message.headers;
  auto since_it = headers.find(kParkedSinceHeader);
  const auto since = since_it != headers.end() && since_it->is_string()
                         ? celery::parseIsoTime(since_it->get<std::string>()).value_or(now)
                         : now;
  if (options_.delay_tiers.empty() || !ports_.publish) return false;
  if (now - since >= options_.max_parked) {
    taskLog()->error("task_id={} parked for longer than {} s with every model down: failing",
                     job.message.id,
                     std::chrono::duration_cast<std::chrono::seconds>(options_.max_parked).count());
    return false;
  }
  // The tier: the balancer's earliest retry time when known, else growing with the
  // number of parks (capped at the longest tier).
  const int parks = parkCount(job.delivery);
  milliseconds delay = options_
                           .delay_tiers[std::min<std::size_t>(static_cast<std::size_t>(parks),
                                                              options_.delay_tiers.size() - 1)]
                           .ttl;
  if (unavailable.retry_at) {
    delay = std::max(milliseconds(1000), duration_cast<milliseconds>(*unavailable.retry_at - now));
  }
  const auto tier = pickTier(options_.delay_tiers, delay);
  const auto next_attempt = now + tier->ttl;
  applyBackpressure(unavailable.retry_at.value_or(next_attempt));

  // RETRY tells a client polling by id that the task is waiting, and until when.
  celery::ExceptionInfo waiting = tasks::unavailableError(unavailable);
  waiting.args = nlohmann::json::array(
      {unavailable.message + "; parked, next attempt at " + celery::formatIsoTime(next_attempt),
       celery::formatIsoTime(next_attempt), unavailable.models});
  waiting.traceback.clear();
  celery::ResultRecord record = celery::retryRecord(job.message, waiting);
  writer_.extend(record, job.message);
  amqp::OutgoingMessage out = parkedMessage(job.delivery, *tier, "all_models_unavailable", now);
  taskLog()->warn("parked task_id={} reason=all_models_unavailable tier={} parks={} models={}",
                  job.message.id, tier->name, parks + 1, nlohmann::json(unavailable.models).dump());
  ++counters_.parked_unavailable;
  republishThenAck(job, std::move(record), std::move(out));
  return true;
}

bool TaskPipeline::retry(Job& job, const tasks::Retry& request, tasks::TaskOutcome& outcome) {
  const celery::TaskMessage& m = job.message;
  if (!ports_.publish) {
    // No confirmed publisher (only in tests): nothing could carry the retry.
    outcome = tasks::Failure{request.exc.value_or(
        celery::makeException("RuntimeError", "cannot retry: no publisher", "celeriac.errors"))};
    return false;
  }
  pipeline::RetryRouting routing;
  routing.eta_hold_limit = options_.eta_hold_limit;
  routing.delay_tiers = options_.delay_tiers;
  pipeline::RetryPlan plan = pipeline::planRetry(job.delivery, m, job.entry->options, request,
                                                 routing, publisher_.canvasContext());
  if (plan.failure) {
    taskLog()->warn("retry refused task={} task_id={} retries={}: {}", m.task, m.id, m.retries,
                    plan.failure->type);
    outcome = tasks::Failure{std::move(*plan.failure)};
    return false;
  }
  ++counters_.retried;
  taskLog()->info("retry task={} task_id={} retries={} countdown_ms={} via={} exc={}", m.task, m.id,
                  plan.retries, plan.countdown.count(),
                  plan.tier.empty() ? std::string("queue") : "tier=" + plan.tier,
                  request.exc ? request.exc->type : std::string("none"));
  if (ports_.events != nullptr) {
    celery::ExceptionInfo retry_exc{"Retry", "celery.exceptions", nlohmann::json::array(), {}};
    ports_.events->retried(m, request.exc ? *request.exc : retry_exc);
  }
  writer_.extend(plan.record, job.message);
  republishThenAck(job, std::move(plan.record), std::move(plan.message));
  return true;
}

void TaskPipeline::republishThenAck(Job& job, celery::ResultRecord record,
                                    amqp::OutgoingMessage out) {
  // Order: RETRY stored, then the copy published, then the original acked. Celery
  // publishes first (spec 4.2), but then a quick next run (countdown 0, another worker)
  // can store its SUCCESS or FAILURE before this RETRY lands and be overwritten by it,
  // leaving get() waiting forever. Acking last keeps at-least-once: a crash in between
  // leaves the original to be redelivered (two copies at worst, never none).
  ++in_flight_.publishing;
  const amqp::DeliveryRef ref = job.delivery.ref;
  const bool late = job.acks_late;
  auto publish = [this, ref, late, id = job.message.id, out = std::move(out)]() {
    ports_.publish(out, [this, ref, late, id](bool confirmed) {
      --in_flight_.publishing;
      if (!late) {
        // Acked at start (acks_late off): nothing to ack, nor to send back.
        if (!confirmed) taskLog()->error("republish of task_id={} not confirmed; it is lost", id);
        return;
      }
      if (confirmed) {
        ports_.ack(ref);
      } else {
        taskLog()->warn("republish of task_id={} not confirmed; returning it to its queue", id);
        ports_.reject(ref, true);
      }
    });
  };
  if (job.ignore_result) {
    publish();
  } else {
    writer_.store(job.message.id, celery::renderResultDocument(record), std::move(publish));
  }
}

void TaskPipeline::applyBackpressure(std::chrono::system_clock::time_point until) {
  const auto wait = std::max(milliseconds(1000),
                             duration_cast<milliseconds>(until - dispatcher_.clock().wallNow()));
  if (backpressure_timer_ != 0) dispatcher_.cancel(backpressure_timer_);
  if (!backpressure_)
    taskLog()->warn("every model is down: prefetch lowered so other replicas take the work");
  backpressure_ = true;
  updatePrefetch();
  backpressure_timer_ = dispatcher_.schedule(wait, [this] {
    backpressure_timer_ = 0;
    backpressure_ = false;
    taskLog()->info("models may be back: prefetch restored");
    updatePrefetch();
  });
}

}  // namespace celeriac::worker::app
