#include "worker/app/pipeline/republish.h"

#include <algorithm>
#include <utility>

#include "worker/app/parking.h"
#include "worker/app/pipeline/retry_plan.h"
#include "worker/app/pipeline/task_log.h"
#include "worker/celery/iso_time.h"
#include "worker/tasks/llm_errors.h"

namespace celeriac::worker::app::pipeline {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

Republisher::Republisher(Context context, ResultWriter& writer, Publisher& publisher,
                         std::function<void()> prefetch_changed)
    : context_(context),
      writer_(writer),
      publisher_(publisher),
      prefetch_changed_(std::move(prefetch_changed)) {}

Republisher::~Republisher() {
  if (backpressure_timer_ != 0) context_.dispatcher.cancel(backpressure_timer_);
}

void Republisher::park(std::unique_ptr<Job> job, milliseconds delay, const std::string& reason) {
  const auto tier = pickTier(context_.options.delay_tiers, delay);
  const amqp::DeliveryRef ref = job->delivery.ref;
  amqp::OutgoingMessage out =
      parkedMessage(job->delivery, *tier, reason, context_.dispatcher.clock().wallNow());
  taskLog()->info("parked task_id={} reason={} tier={} due_in_ms={} parks={}", job->message.id,
                  reason, tier->name, delay.count(), out.headers[kParkCountHeader].dump());
  ++context_.counters.parked;
  ++context_.in_flight.publishing;
  // The original is acked only once the broker confirmed the parked copy: a crash in
  // between leaves two copies at worst (at-least-once), never none.
  context_.ports.publish(std::move(out), [this, ref, id = job->message.id](bool confirmed) {
    --context_.in_flight.publishing;
    if (confirmed) {
      context_.ports.ack(ref);
    } else {
      taskLog()->warn("park of task_id={} not confirmed; returning it to its queue", id);
      context_.ports.reject(ref, true);
    }
  });
}

bool Republisher::parkUnavailable(Job& job, const tasks::Unavailable& unavailable) {
  const auto now = context_.dispatcher.clock().wallNow();
  const auto& headers = job.delivery.message.headers;
  auto since_it = headers.find(kParkedSinceHeader);
  const auto since = since_it != headers.end() && since_it->is_string()
                         ? celery::parseIsoTime(since_it->get<std::string>()).value_or(now)
                         : now;
  if (context_.options.delay_tiers.empty() || !context_.ports.publish) return false;
  if (now - since >= context_.options.max_parked) {
    taskLog()->error(
        "task_id={} parked for longer than {} s with every model down: failing", job.message.id,
        std::chrono::duration_cast<std::chrono::seconds>(context_.options.max_parked).count());
    return false;
  }
  // The tier: the balancer's earliest retry time when known, else growing with the
  // number of parks (capped at the longest tier).
  const int parks = parkCount(job.delivery);
  const std::vector<amqp::DelayTier>& tiers = context_.options.delay_tiers;
  milliseconds delay =
      tiers[std::min<std::size_t>(static_cast<std::size_t>(parks), tiers.size() - 1)].ttl;
  if (unavailable.retry_at) {
    delay = std::max(milliseconds(1000), duration_cast<milliseconds>(*unavailable.retry_at - now));
  }
  const auto tier = pickTier(context_.options.delay_tiers, delay);
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
  ++context_.counters.parked_unavailable;
  republishThenAck(job, std::move(record), std::move(out));
  return true;
}

std::optional<celery::ExceptionInfo> Republisher::retry(Job& job, const tasks::Retry& request) {
  const celery::TaskMessage& m = job.message;
  if (!context_.ports.publish) {
    // No confirmed publisher (only in tests): nothing could carry the retry.
    return request.exc.value_or(
        celery::makeException("RuntimeError", "cannot retry: no publisher", "celeriac.errors"));
  }
  RetryRouting routing;
  routing.eta_hold_limit = context_.options.eta_hold_limit;
  routing.delay_tiers = context_.options.delay_tiers;
  RetryPlan plan =
      planRetry(job.delivery, m, job.entry->options, request, routing, publisher_.canvasContext());
  if (plan.failure) {
    taskLog()->warn("retry refused task={} task_id={} retries={}: {}", m.task, m.id, m.retries,
                    plan.failure->type);
    return std::move(*plan.failure);
  }
  ++context_.counters.retried;
  taskLog()->info("retry task={} task_id={} retries={} countdown_ms={} via={} exc={}", m.task, m.id,
                  plan.retries, plan.countdown.count(),
                  plan.tier.empty() ? std::string("queue") : "tier=" + plan.tier,
                  request.exc ? request.exc->type : std::string("none"));
  if (context_.ports.events != nullptr) {
    celery::ExceptionInfo retry_exc{"Retry", "celery.exceptions", nlohmann::json::array(), {}};
    context_.ports.events->retried(m, request.exc ? *request.exc : retry_exc);
  }
  writer_.extend(plan.record, job.message);
  republishThenAck(job, std::move(plan.record), std::move(plan.message));
  return std::nullopt;
}

void Republisher::republishThenAck(Job& job, celery::ResultRecord record,
                                   amqp::OutgoingMessage out) {
  // Order: RETRY stored, then the copy published, then the original acked. Celery
  // publishes the copy first and stores RETRY after, but then a quick next run (countdown
  // 0, another worker) can store its SUCCESS or FAILURE before this RETRY lands and be
  // overwritten by it, leaving get() waiting forever. Acking last keeps at-least-once: a
  // crash in between leaves the original to be redelivered (two copies at worst, never
  // none).
  ++context_.in_flight.publishing;
  const amqp::DeliveryRef ref = job.delivery.ref;
  const bool late = job.acks_late;
  auto publish = [this, ref, late, id = job.message.id, out = std::move(out)]() {
    context_.ports.publish(out, [this, ref, late, id](bool confirmed) {
      --context_.in_flight.publishing;
      if (!late) {
        // Acked at start (acks_late off): nothing to ack, nor to send back.
        if (!confirmed) taskLog()->error("republish of task_id={} not confirmed; it is lost", id);
        return;
      }
      if (confirmed) {
        context_.ports.ack(ref);
      } else {
        taskLog()->warn("republish of task_id={} not confirmed; returning it to its queue", id);
        context_.ports.reject(ref, true);
      }
    });
  };
  if (job.ignore_result) {
    publish();
  } else {
    writer_.store(job.message.id, celery::renderResultDocument(record), std::move(publish));
  }
}

void Republisher::applyBackpressure(std::chrono::system_clock::time_point until) {
  const auto wait =
      std::max(milliseconds(1000),
               duration_cast<milliseconds>(until - context_.dispatcher.clock().wallNow()));
  if (backpressure_timer_ != 0) context_.dispatcher.cancel(backpressure_timer_);
  if (!backpressure_)
    taskLog()->warn("every model is down: prefetch lowered so other replicas take the work");
  backpressure_ = true;
  prefetch_changed_();
  backpressure_timer_ = context_.dispatcher.schedule(wait, [this] {
    backpressure_timer_ = 0;
    backpressure_ = false;
    taskLog()->info("models may be back: prefetch restored");
    prefetch_changed_();
  });
}

}  // namespace celeriac::worker::app::pipeline
