#include "worker/app/task_pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <random>

#include "worker/app/error_redaction.h"
#include "worker/app/log_redactor.h"
#include "worker/app/pipeline/join.h"
#include "worker/app/task_pipeline_internal.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/message_decoder.h"
#include "worker/celery/python_json.h"
#include "worker/celery/result_document.h"
#include "worker/celery/result_keys.h"
#include "worker/tasks/llm_errors.h"

namespace celeriac::worker::app {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Bodies at least this large wait (prefetched or held for their ETA) as raw bytes only;
// a prefetch of 400 multi-megabyte analysis images would otherwise hold each twice.
constexpr std::size_t kDecodeAtStartBytes = 64 * 1024;

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

// The task id from the AMQP headers (protocol 2), without decoding the body; "" when
// there is none (protocol 1 keeps it in the body).
std::string headerTaskId(const celery::RawMessage& message) {
  if (!message.headers.is_object()) return {};
  const auto it = message.headers.find("id");
  return it != message.headers.end() && it->is_string() ? it->template get<std::string>()
                                                        : std::string();
}

}  // namespace

TaskPipeline::TaskPipeline(balancer::Dispatcher& dispatcher, const tasks::TaskRegistry& registry,
                           PipelinePorts ports, PipelineOptions options)
    : dispatcher_(dispatcher),
      registry_(registry),
      ports_(std::move(ports)),
      options_(std::move(options)),
      writer_(context(), [this] { pump(); }),
      publisher_(context()),
      republisher_(context(), writer_, publisher_, [this] { updatePrefetch(); }),
      chords_(context(), writer_, publisher_),
      prefetch_sent_(options_.prefetch),
      eta_holds_(dispatcher_,
                 [this](std::unique_ptr<Job> job) {
                   updatePrefetch();
                   enqueue(std::move(job));
                 }),
      rate_waits_(dispatcher_, [this](std::unique_ptr<Job> job) { enqueue(std::move(job)); }),
      time_limits_(options_.default_soft_time_limit, options_.default_hard_time_limit),
      limit_timers_(dispatcher_, [this](JobId id, bool hard) { timeLimitHit(id, hard); }) {
  applyTaskDefaults();
}

TaskPipeline::~TaskPipeline() { cancelRunning(); }

bool TaskPipeline::expired(const celery::TaskMessage& m) const {
  return m.expires && *m.expires <= dispatcher_.clock().wallNow();
}

void TaskPipeline::onDelivery(amqp::Delivery delivery) {
  const std::string header_id = headerTaskId(delivery.message);
  // Refused before anything parses or copies it: an analysis image may be a data: URL
  // of many megabytes, but a body past the limit is a mistake or an attack.
  if (delivery.message.body.size() > options_.max_message_size) {
    ++counters_.received;
    const std::string reason = "message body of " + std::to_string(delivery.message.body.size()) +
                               " bytes is over the worker's --max-message-size (" +
                               std::to_string(options_.max_message_size) + " bytes)";
    refuse(delivery, header_id, celery::invalidTask(reason), reason);
    return;
  }
  // One message never ends the process: an exception out of decoding or admission is
  // this message's FAILURE (when it has an id) and a reject, and the worker goes on.
  const amqp::Delivery copy_for_refusal{delivery.ref, delivery.queue, {}};
  try {
    receive(std::move(delivery));
  } catch (const std::exception& e) {
    refuse(copy_for_refusal, header_id, celery::fromCppException(e),
           std::string("exception while receiving: ") + e.what());
  }
}

void TaskPipeline::receive(amqp::Delivery delivery) {
  ++counters_.received;
  celery::DecodeResult decoded = celery::decodeMessage(delivery.message);
  if (!decoded.ok()) {
    const celery::DecodeError& err = decoded.error;
    refuse(delivery, err.task_id, celery::exceptionForDecodeError(err), err.message);
    return;
  }
  auto job = std::make_unique<Job>();
  job->id = next_id_++;
  job->delivery = std::move(delivery);
  job->message = std::move(*decoded.task);
  const celery::TaskMessage& m = job->message;
  job->entry = registry_.find(m.task);
  if (job->entry == nullptr) {
    refuse(job->delivery, m.id, celery::notRegistered(m.task),
           "task " + m.task + " is not registered", &m);
    return;
  }
  if (job->delivery.message.body.size() >= kDecodeAtStartBytes) {
    job->message.args = nullptr;
    job->message.kwargs = nullptr;
    job->decode_at_start = true;
  }
  job->acks_late = job->entry->options.acks_late.value_or(options_.acks_late);
  // Celery: the task's ignore_result, or the message's (which can only add to it).
  job->ignore_result = m.ignore_result.value_or(false) || job->entry->options.ignore_result;
  taskLog()->info("received task={} task_id={} root_id={} retries={}", m.task, m.id,
                  m.root_id.empty() ? m.id : m.root_id, m.retries);

  // Expired or revoked on arrival: only task-revoked, no task-received (spec 6.4).
  if (expired(m)) {
    storeRevoked(*job, "expired", true);
    return;
  }
  if (revoked(m)) {
    storeRevoked(*job, "revoked", true);
    return;
  }
  if (ports_.events != nullptr) ports_.events->received(m);
  if (m.eta) {
    const auto delay = duration_cast<milliseconds>(*m.eta - dispatcher_.clock().wallNow());
    if (delay > options_.eta_hold_limit && ports_.publish && !options_.delay_tiers.empty()) {
      republisher_.park(std::move(job), delay, "eta");
      return;
    }
    if (delay.count() > 0) {
      hold(std::move(job), delay);
      return;
    }
  }
  enqueue(std::move(job));
}

void TaskPipeline::refuse(const amqp::Delivery& delivery, const std::string& task_id,
                          celery::ExceptionInfo error, const std::string& log_reason,
                          const celery::TaskMessage* message) {
  ++counters_.rejected;
  const amqp::DeliveryRef ref = delivery.ref;
  if (ports_.events != nullptr && !task_id.empty()) {
    // Only the id and the routing key, plus the name when it is a registered task
    // (task_events.h: an unregistered name is not a label value).
    celery::TaskMessage seen;
    seen.id = task_id;
    seen.routing_key = delivery.message.routing_key;
    if (message != nullptr && registry_.find(message->task) != nullptr) seen.task = message->task;
    ports_.events->rejected(seen, false);
  }
  if (task_id.empty()) {
    // Nothing to tell a client about: reject (dead-letter if the queue has a DLX).
    taskLog()->error("rejected message without a readable task id: {}", log_reason);
    ports_.reject(ref, false);
    return;
  }
  taskLog()->error("rejected task_id={}: {}", task_id, log_reason);
  celery::ResultRecord record;
  if (message != nullptr) {
    // Decoded but not runnable (NotRegistered): Celery stores it with the request, so
    // result_extended fields and group/parent ids are there.
    record = celery::failureRecord(*message, error, dispatcher_.clock().wallNow());
    writer_.extend(record, *message);
  } else {
    record.task_id = task_id;
    record.state = celery::TaskState::kFailure;
    record.result = celery::encodeException(error);
    record.date_done = dispatcher_.clock().wallNow();
  }
  // Reject only once the FAILURE is stored, so the Python caller never hangs.
  writer_.store(task_id, celery::renderResultDocument(record),
                [this, ref] { ports_.reject(ref, false); });
}

void TaskPipeline::hold(std::unique_ptr<Job> job, milliseconds delay) {
  taskLog()->info("scheduled task_id={} eta_in_ms={}", job->message.id, delay.count());
  eta_holds_.hold(std::move(job), delay);
  // Like Celery (spec 8.2): each held ETA message raises prefetch by one, so held
  // tasks never starve the window of tasks that can run now.
  updatePrefetch();
}

void TaskPipeline::updatePrefetch() {
  const std::size_t base = republisher_.backpressure() ? std::size_t{options_.backpressure_prefetch}
                                                       : std::size_t{options_.prefetch};
  // 0 is "unlimited" (--prefetch-multiplier 0): held tasks cannot raise it, and adding
  // them to it would turn it into a limit (it became 1 with one held task).
  const std::size_t wanted = base == 0
                                 ? 0
                                 : std::min<std::size_t>(std::numeric_limits<std::uint16_t>::max(),
                                                         base + eta_holds_.size());
  const auto value = static_cast<std::uint16_t>(wanted);
  if (value == prefetch_sent_) return;
  prefetch_sent_ = value;
  ports_.set_prefetch(value);
}

void TaskPipeline::enqueue(std::unique_ptr<Job> job) {
  if (waitForRateLimit(job)) return;
  const int priority = priorityOf(*job);
  ready_.push(priority, std::move(job));
  pump();
}

void TaskPipeline::pump() {
  while (starting_ && running_ < options_.concurrency && !ready_.empty() &&
         ports_.store_accepting()) {
    start(ready_.pop());
  }
}

void TaskPipeline::start(std::unique_ptr<Job> job) {
  if (job->decode_at_start) {
    celery::DecodeResult decoded = celery::decodeMessage(job->delivery.message);
    if (!decoded.ok()) {  // it decoded on arrival; only a bug could get here
      refuse(job->delivery, job->message.id, celery::exceptionForDecodeError(decoded.error),
             decoded.error.message);
      return;
    }
    job->message = std::move(*decoded.task);
    job->decode_at_start = false;
  }
  const celery::TaskMessage& m = job->message;
  if (expired(m) || revoked(m)) {  // re-checked at start, as Celery does (spec 8.5)
    storeRevoked(*job, expired(m) ? "expired" : "revoked", true);
    return;
  }
  if (job->delivery.message.redelivered && !job->start_counted && maxCrashesFor(*job) > 0 &&
      ports_.count_start && !runningHere(job->message.id)) {
    countStartThenRun(std::move(job));
    return;
  }
  ++running_;
  ++counters_.total_by_task[m.task];
  if (!job->acks_late) ports_.ack(job->delivery.ref);
  const bool track_started = job->entry->options.track_started.value_or(options_.track_started);
  if (track_started && !job->ignore_result) {
    writer_.store(
        m.id,
        celery::renderResultDocument(celery::startedRecord(m, options_.pid, options_.hostname)),
        nullptr);
  }
  job->started = dispatcher_.clock().now();
  job->wall_started = dispatcher_.clock().wallNow();
  if (ports_.events != nullptr) ports_.events->started(m);
  const JobId id = job->id;
  limit_timers_.arm(*job, time_limits_.soft(m), time_limits_.hard(m));
  Job& ref = *job;
  active_.emplace(id, std::move(job));
  tasks::TaskContext ctx{ref.message, dispatcher_};
  // A handler must not complete inside its own call; if one does anyway, finishing
  // is deferred to a later turn so `ref` is not destroyed under our feet.
  starting_job_ = id;
  try {
    ref.run = ref.entry->handler(ctx, [this, id](tasks::TaskOutcome outcome) {
      if (id == starting_job_) {
        dispatcher_.post(
            [this, id, o = std::move(outcome)]() mutable { finish(id, std::move(o)); });
        return;
      }
      finish(id, std::move(outcome));
    });
  } catch (const std::exception& e) {
    // The handler threw instead of starting: the task fails with that exception.
    // Finished on a later turn, like any completion (finish() ignores a second one).
    dispatcher_.post(
        [this, id, error = celery::fromCppException(e)] { finish(id, tasks::Failure{error}); });
  }
  starting_job_ = 0;
}

void TaskPipeline::timeLimitHit(JobId id, bool hard) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  Job& job = *it->second;
  if (hard) {
    job.hard_limit_timer = 0;
  } else {
    job.soft_limit_timer = 0;
  }
  if (job.run) job.run->cancel();
  celery::ExceptionInfo e =
      hard ? celery::timeLimitExceeded(time_limits_.hard(job.message).value_or(0))
           : celery::softTimeLimitExceeded();
  taskLog()->warn("time limit task_id={} kind={}", job.message.id, hard ? "hard" : "soft");
  finish(id, tasks::Failure{std::move(e)});
}

std::unique_ptr<TaskPipeline::Job> TaskPipeline::takeActive(JobId id) {
  auto it = active_.find(id);
  if (it == active_.end()) return nullptr;
  std::unique_ptr<Job> job = std::move(it->second);
  active_.erase(it);
  --running_;
  limit_timers_.disarm(*job);
  // The run object may be the caller of this very callback: destroy it later.
  if (job->run) {
    dispatcher_.post([run = std::shared_ptr<tasks::TaskRun>(std::move(job->run))] {});
  }
  if (job->start_counted && ports_.forget_starts) {
    ports_.forget_starts(celery::redeliveredStartsKey(job->message.id));
  }
  return job;
}

void TaskPipeline::finish(JobId id, tasks::TaskOutcome outcome) {
  std::unique_ptr<Job> job = takeActive(id);
  if (!job) return;
  try {
    settle(*job, std::move(outcome));
  } catch (const std::exception& e) {
    // Rendering or routing the outcome threw (a value no codec expected): store that
    // exception as the task's FAILURE and settle the message, rather than end the
    // process with it unacked (it would be redelivered to the next replica, and the next).
    taskLog()->error("task_id={} exception while settling: {}", job->message.id, e.what());
    const amqp::DeliveryRef ref = job->delivery.ref;
    const bool late = job->acks_late;
    celery::ResultRecord record = celery::failureRecord(job->message, celery::fromCppException(e),
                                                        dispatcher_.clock().wallNow());
    writer_.extend(record, job->message);
    writer_.store(job->message.id, celery::renderResultDocument(record), [this, ref, late] {
      if (late) ports_.ack(ref);
    });
  }
  pump();
}

void TaskPipeline::settle(Job& job, tasks::TaskOutcome outcome) {
  const celery::TaskMessage& m = job.message;
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
  const auto runtime = std::chrono::duration<double>(dispatcher_.clock().now() - job.started);
  const auto now = dispatcher_.clock().wallNow();
  // A canvas applied from inside the task (celery.chunks) goes out with the follow-ups.
  std::vector<celery::OutboundMessage> applied;
  std::vector<celery::ChordSize> applied_sizes;
  if (auto* success = std::get_if<tasks::Success>(&outcome);
      success != nullptr && !success->applies.is_null()) {
    if (ports_.publish) {
      success->value = applyFromTask(m, success->applies, applied, applied_sizes);
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
  // Only a Success or a Failure is left.
  auto* success = std::get_if<tasks::Success>(&outcome);
  celery::ResultRecord record;
  if (success != nullptr) {
    ++counters_.succeeded;
    taskLog()->info("succeeded task={} task_id={} runtime_s={:.6f}", m.task, m.id, runtime.count());
    record = celery::successRecord(m, std::move(success->value), now);
    if (ports_.events != nullptr) ports_.events->succeeded(m, record.result, runtime.count());
  } else {
    const celery::ExceptionInfo& error = std::get<tasks::Failure>(outcome).error;
    ++counters_.failed;
    taskLog()->error("failed task={} task_id={} runtime_s={:.6f} exc={}: {}", m.task, m.id,
                     runtime.count(), error.type,
                     error.args.empty() ? std::string() : celery::dumpPythonJson(error.args));
    record = celery::failureRecord(m, error, now);
    if (ports_.events != nullptr) ports_.events->failed(m, error);
  }
  const bool succeeded = success != nullptr;
  // Every stored outcome carries the result_extended fields when enabled, follow-ups
  // or not (they were left out whenever a chain step, link or link_error went out).
  writer_.extend(record, m);
  const amqp::DeliveryRef ref = job.delivery.ref;
  const bool late = job.acks_late;
  const bool drop = !succeeded && !job.entry->options.acks_on_failure_or_timeout;
  // Canvas (spec 5.2/5.3): chain step and callbacks are published before SUCCESS is
  // stored (so `children` names them); a failure stores the same FAILURE on the
  // remaining chain steps and publishes the errbacks.
  std::vector<celery::OutboundMessage> follow_ups;
  std::vector<celery::ChordSize> chord_sizes;
  // Chord bookkeeping (spec 3.8) runs after the result is stored, before the ack.
  std::vector<celery::ChordMember> chord_parts;
  if (auto member = celery::chordMemberOf(m)) chord_parts.push_back(std::move(*member));
  const bool has_canvas = !m.chain.is_null() || !m.callbacks.is_null() || !m.errbacks.is_null();
  if (has_canvas && ports_.publish) {
    const celery::CanvasContext ctx = publisher_.canvasContext();
    if (succeeded) {
      auto follow = celery::successFollowUps(m, record.result, ctx);
      record.children = std::move(follow.children);
      follow_ups = std::move(follow.messages);
      chord_sizes = std::move(follow.chord_sizes);
      for (const auto& e : follow.errors) taskLog()->error("task_id={} canvas: {}", m.id, e);
    } else {
      auto follow = celery::failureFollowUps(m, ctx);
      follow_ups = std::move(follow.errbacks);
      chord_sizes = std::move(follow.chord_sizes);
      for (auto& part : follow.chord_parts) chord_parts.push_back(std::move(part));
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
    }
  }
  if (!applied.empty()) {
    record.children.insert(record.children.begin(), record.result);
    follow_ups.insert(follow_ups.begin(), std::make_move_iterator(applied.begin()),
                      std::make_move_iterator(applied.end()));
    for (auto& size : applied_sizes) chord_sizes.push_back(std::move(size));
  }
  const auto with_parts = [&](std::function<void()> next) {
    return chords_.withParts(chord_parts, std::string(celery::stateName(record.state)),
                             record.result, std::move(next));
  };
  if (!follow_ups.empty()) {
    // Ack once the follow-ups are confirmed and the result is stored; if a follow-up
    // is not confirmed the message goes back to the queue and the task runs again
    // (at-least-once) rather than a chain silently ending here.
    auto settle_message = pipeline::joinAll(2, [this, ref, late, drop](bool all_ok) {
      if (!all_ok) {
        ports_.reject(ref, true);
      } else {
        ackSettled(ref, late, drop);
      }
    });
    publisher_.publishExpansion(std::move(chord_sizes), std::move(follow_ups), settle_message);
    if (job.ignore_result) {
      with_parts([settle_message] { settle_message(true); })();
    } else {
      writer_.store(m.id, celery::renderResultDocument(record),
                    with_parts([settle_message] { settle_message(true); }));
    }
  } else if (job.ignore_result) {
    with_parts([this, ref, late, drop] { ackSettled(ref, late, drop); })();
  } else {
    writer_.store(m.id, celery::renderResultDocument(record),
                  with_parts([this, ref, late, drop] { ackSettled(ref, late, drop); }));
  }
}

void TaskPipeline::onChannelLost() {
  eta_holds_.clear();
  rate_waits_.clear();
  ready_.clear();
  running_ -= counting_.size();  // their slots: the broker redelivers them
  counting_.clear();
  updatePrefetch();  // back to the base value for the next channel
}

void TaskPipeline::stopStarting() { starting_ = false; }

void TaskPipeline::cancelRunning() {
  for (auto& [id, job] : active_) {
    if (job->run) job->run->cancel();
    limit_timers_.disarm(*job);
    taskLog()->warn("abandoned task_id={} at shutdown: left unacked for redelivery",
                    job->message.id);
  }
  running_ -= active_.size();
  active_.clear();
}

}  // namespace celeriac::worker::app
