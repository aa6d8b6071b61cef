#include "worker/app/pipeline/settlement.h"

#include <iterator>
#include <utility>

#include "worker/app/error_redaction.h"
#include "worker/app/log_redactor.h"
#include "worker/app/pipeline/join.h"
#include "worker/app/pipeline/task_log.h"
#include "worker/celery/auto_retry.h"
#include "worker/celery/canvas_expand.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/python_json.h"
#include "worker/tasks/llm_errors.h"

namespace celeriac::worker::app::pipeline {

using nlohmann::json;

namespace {

// A provider's error text may quote the key it refused: masks secrets in what the
// outcome will store or publish (its exception, a retry's reason, an Unavailable's
// message and model names).
void redactOutcome(tasks::TaskOutcome& outcome) {
  if (auto* failure = std::get_if<tasks::Failure>(&outcome)) {
    redactSecrets(failure->error);
  } else if (auto* retry = std::get_if<tasks::Retry>(&outcome); retry != nullptr && retry->exc) {
    redactSecrets(*retry->exc);
  } else if (auto* unavailable = std::get_if<tasks::Unavailable>(&outcome)) {
    const LogRedactor& redactor = logRedactor();
    if (auto masked = redactor.redactIfNeeded(unavailable->message)) {
      unavailable->message = std::move(*masked);
    }
    for (std::string& model : unavailable->models) {
      if (auto masked = redactor.redactIfNeeded(model)) model = std::move(*masked);
    }
  }
}

}  // namespace

Settlement::Settlement(Context context, ResultWriter& writer, Publisher& publisher,
                       Republisher& republisher, Chords& chords)
    : context_(context),
      writer_(writer),
      publisher_(publisher),
      republisher_(republisher),
      chords_(chords) {}

void Settlement::settle(Job& job, tasks::TaskOutcome outcome) {
  try {
    settleOutcome(job, std::move(outcome));
  } catch (const std::exception& e) {
    taskLog()->error("task_id={} exception while settling: {}", job.message.id, e.what());
    const amqp::DeliveryRef ref = job.delivery.ref;
    const bool late = job.acks_late;
    celery::ResultRecord failure = celery::failureRecord(job.message, celery::fromCppException(e),
                                                         context_.dispatcher.clock().wallNow());
    writer_.extend(failure, job.message);
    writer_.store(job.message.id, celery::renderResultDocument(failure), [this, ref, late] {
      if (late) context_.ports.ack(ref);
    });
  }
}

void Settlement::settleOutcome(Job& job, tasks::TaskOutcome outcome) {
  // A provider's error text may quote the key it refused: never store or publish it.
  redactOutcome(outcome);
  // A retry either goes out (done here) or becomes the failure Celery raises instead,
  // which then runs the ordinary failure path (errbacks, chain) below.
  autoRetry(job, outcome);
  if (const auto* retry_request = std::get_if<tasks::Retry>(&outcome)) {
    std::optional<celery::ExceptionInfo> failure = republisher_.retry(job, *retry_request);
    if (!failure) return;
    outcome = tasks::Failure{std::move(*failure)};
  }
  // A canvas applied from inside the task (celery.chunks) goes out with the follow-ups.
  FollowUps applied;
  if (auto* success = std::get_if<tasks::Success>(&outcome);
      success != nullptr && !success->applies.is_null()) {
    if (context_.ports.publish) {
      success->value = applyFromTask(job.message, success->applies, applied);
    } else {
      outcome = tasks::Failure{celery::makeException(
          "RuntimeError", "this worker cannot publish the canvas the task applies", "builtins")};
    }
  }
  // Every model down: parked until the balancer's retry time, unless it cannot be (no
  // tiers, parked too long); then it fails with AllModelsUnavailable.
  if (const auto* unavailable = std::get_if<tasks::Unavailable>(&outcome)) {
    if (republisher_.parkUnavailable(job, *unavailable)) return;
    outcome = tasks::Failure{tasks::unavailableError(*unavailable)};
  }
  const bool succeeded = std::holds_alternative<tasks::Success>(outcome);
  celery::ResultRecord stored = record(job, outcome);
  const bool drop = !succeeded && !job.entry->options.acks_on_failure_or_timeout;
  FollowUps follow = followUps(job, succeeded, stored);
  if (!applied.messages.empty()) {
    stored.children.insert(stored.children.begin(), stored.result);
    follow.messages.insert(follow.messages.begin(),
                           std::make_move_iterator(applied.messages.begin()),
                           std::make_move_iterator(applied.messages.end()));
    for (auto& size : applied.chord_sizes) follow.chord_sizes.push_back(std::move(size));
  }
  storeThenAck(job, stored, std::move(follow), drop);
}

void Settlement::autoRetry(const Job& job, tasks::TaskOutcome& outcome) {
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

json Settlement::applyFromTask(const celery::TaskMessage& task, const json& signature,
                               FollowUps& out) {
  celery::Expansion expansion;
  const std::string root = task.root_id.empty() ? task.id : task.root_id;
  celery::applySignature(signature, {json::array(), json::object(), task.id, root},
                         publisher_.canvasContext(), expansion);
  for (const auto& e : expansion.errors) {
    taskLog()->error("task_id={} applied canvas: {}", task.id, e);
  }
  for (auto& m : expansion.messages) out.messages.push_back(std::move(m));
  for (auto& s : expansion.chord_sizes) out.chord_sizes.push_back(std::move(s));
  return expansion.result;
}

celery::ResultRecord Settlement::record(const Job& job, tasks::TaskOutcome& outcome) {
  const celery::TaskMessage& m = job.message;
  const auto runtime =
      std::chrono::duration<double>(context_.dispatcher.clock().now() - job.started);
  const auto now = context_.dispatcher.clock().wallNow();
  TaskEventSink* events = context_.ports.events;
  celery::ResultRecord out;
  if (auto* success = std::get_if<tasks::Success>(&outcome)) {
    ++context_.counters.succeeded;
    taskLog()->info("succeeded task={} task_id={} runtime_s={:.6f}", m.task, m.id, runtime.count());
    out = celery::successRecord(m, std::move(success->value), now);
    if (events != nullptr) events->succeeded(m, out.result, runtime.count());
  } else {
    const celery::ExceptionInfo& error = std::get<tasks::Failure>(outcome).error;
    ++context_.counters.failed;
    taskLog()->error("failed task={} task_id={} runtime_s={:.6f} exc={}: {}", m.task, m.id,
                     runtime.count(), error.type,
                     error.args.empty() ? std::string() : celery::dumpPythonJson(error.args));
    out = celery::failureRecord(m, error, now);
    if (events != nullptr) events->failed(m, error);
  }
  // Every stored outcome carries the result_extended fields when enabled, follow-ups
  // or not (they were left out whenever a chain step, link or link_error went out).
  writer_.extend(out, m);
  return out;
}

Settlement::FollowUps Settlement::followUps(const Job& job, bool succeeded,
                                            celery::ResultRecord& record) {
  const celery::TaskMessage& m = job.message;
  FollowUps out;
  // Chord bookkeeping (the member's part in Redis) runs after the result is stored,
  // before the ack.
  if (auto member = celery::chordMemberOf(m)) out.chord_parts.push_back(std::move(*member));
  const bool has_canvas = !m.chain.is_null() || !m.callbacks.is_null() || !m.errbacks.is_null();
  if (!has_canvas || !context_.ports.publish) return out;
  // Canvas (chain, link, link_error): chain step and callbacks are published before
  // SUCCESS is stored (so `children` names them); a failure stores the same FAILURE on
  // the remaining chain steps and publishes the errbacks.
  const celery::CanvasContext ctx = publisher_.canvasContext();
  if (succeeded) {
    auto follow = celery::successFollowUps(m, record.result, ctx);
    record.children = std::move(follow.children);
    out.messages = std::move(follow.messages);
    out.chord_sizes = std::move(follow.chord_sizes);
    for (const auto& e : follow.errors) taskLog()->error("task_id={} canvas: {}", m.id, e);
    return out;
  }
  auto follow = celery::failureFollowUps(m, ctx);
  out.messages = std::move(follow.errbacks);
  out.chord_sizes = std::move(follow.chord_sizes);
  for (auto& part : follow.chord_parts) out.chord_parts.push_back(std::move(part));
  for (const auto& e : follow.errors) taskLog()->error("task_id={} canvas: {}", m.id, e);
  for (const std::string& chained_id : follow.remaining_chain_ids) {
    celery::ResultRecord chained = record;
    chained.task_id = chained_id;
    chained.parent_id = m.id;
    // Its own name and args are in the chain's signature, not in this message;
    // rather than store this task's as if they were that step's, store none.
    chained.extended = false;
    writer_.store(chained_id, celery::renderResultDocument(chained), nullptr);
  }
  return out;
}

void Settlement::storeThenAck(Job& job, const celery::ResultRecord& record, FollowUps follow,
                              bool drop) {
  const amqp::DeliveryRef ref = job.delivery.ref;
  const bool late = job.acks_late;
  const auto with_parts = [&](std::function<void()> next) {
    return chords_.withParts(follow.chord_parts, std::string(celery::stateName(record.state)),
                             record.result, std::move(next));
  };
  if (!follow.messages.empty()) {
    // Ack once the follow-ups are confirmed and the result is stored; if a follow-up
    // is not confirmed the message goes back to the queue and the task runs again
    // (at-least-once) rather than a chain silently ending here.
    auto settle_message = joinAll(2, [this, ref, late, drop](bool all_ok) {
      if (!all_ok) {
        context_.ports.reject(ref, true);
      } else {
        ackSettled(ref, late, drop);
      }
    });
    publisher_.publishExpansion(std::move(follow.chord_sizes), std::move(follow.messages),
                                settle_message);
    if (job.ignore_result) {
      with_parts([settle_message] { settle_message(true); })();
    } else {
      writer_.store(job.message.id, celery::renderResultDocument(record),
                    with_parts([settle_message] { settle_message(true); }));
    }
  } else if (job.ignore_result) {
    with_parts([this, ref, late, drop] { ackSettled(ref, late, drop); })();
  } else {
    writer_.store(job.message.id, celery::renderResultDocument(record),
                  with_parts([this, ref, late, drop] { ackSettled(ref, late, drop); }));
  }
}

void Settlement::ackSettled(amqp::DeliveryRef ref, bool late, bool drop) {
  if (!late) return;  // acked when it started
  if (drop) {
    context_.ports.reject(ref, false);
  } else {
    context_.ports.ack(ref);
  }
}

void Settlement::settleRevoked(Job& job, const std::string& reason, bool ack) {
  ++context_.counters.revoked;
  const celery::TaskMessage& m = job.message;
  taskLog()->info("revoked task_id={} reason={}", m.id, reason);
  if (context_.ports.events != nullptr) {
    context_.ports.events->revoked(m, reason == "terminated", reason == "expired");
  }
  const amqp::DeliveryRef ref = job.delivery.ref;
  celery::ResultRecord record =
      celery::revokedRecord(m, reason, context_.dispatcher.clock().wallNow());
  writer_.extend(record, m);
  // Celery's mark_as_revoked(): a revoked chord member still reports its part, so
  // the chord's body fails with ChordError instead of waiting forever.
  std::vector<celery::ChordMember> parts;
  if (auto member = celery::chordMemberOf(m)) parts.push_back(std::move(*member));
  writer_.store(m.id, celery::renderResultDocument(record),
                chords_.withParts(std::move(parts), "REVOKED", record.result, [this, ref, ack] {
                  if (ack) context_.ports.ack(ref);
                }));
}

}  // namespace celeriac::worker::app::pipeline
