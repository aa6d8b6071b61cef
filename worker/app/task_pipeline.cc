#include "worker/app/task_pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "worker/app/pipeline/job_packing.h"
#include "worker/app/pipeline/task_log.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/message_decoder.h"
#include "worker/celery/result_document.h"
#include "worker/celery/result_keys.h"

namespace celeriac::worker::app {

using pipeline::taskLog;

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Bodies at least this large wait (prefetched or held for their ETA) as raw bytes only;
// a prefetch of 400 multi-megabyte analysis images would otherwise hold each twice.
constexpr std::size_t kDecodeAtStartBytes = 64 * 1024;

// The task id from the AMQP headers (protocol 2), without decoding the body; "" when
// there is none (protocol 1 keeps it in the body).
std::string headerTaskId(const celery::RawMessage& message) {
  if (!message.headers.is_object()) return {};
  const auto it = message.headers.find("id");
  return it != message.headers.end() && it->is_string() ? it->template get<std::string>()
                                                        : std::string();
}

}  // namespace

TaskPipeline::TaskPipeline(common::Dispatcher& dispatcher, const tasks::TaskRegistry& registry,
                           PipelinePorts ports, PipelineOptions options)
    : dispatcher_(dispatcher),
      registry_(registry),
      ports_(std::move(ports)),
      options_(std::move(options)),
      writer_(context(), [this] { pump(); }),
      publisher_(context()),
      republisher_(context(), writer_, publisher_, [this] { updatePrefetch(); }),
      chords_(context(), writer_, publisher_),
      settlement_(context(), writer_, publisher_, republisher_, chords_),
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

  // Expired or revoked on arrival: only task-revoked, no task-received (as Celery does).
  if (expired(m)) {
    settlement_.settleRevoked(*job, "expired", true);
    return;
  }
  if (revoked(m)) {
    settlement_.settleRevoked(*job, "revoked", true);
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
  // Like Celery: each held ETA message raises prefetch by one, so held tasks never
  // starve the window of tasks that can run now.
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
  if (expired(m) || revoked(m)) {  // re-checked at start, as Celery does
    settlement_.settleRevoked(*job, expired(m) ? "expired" : "revoked", true);
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
  // Still in active_ here: a completion inside the handler was posted, not run.
  if (ref.run && ref.run->waitsLong()) pipeline::packJob(ref);
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
  pipeline::unpackJob(*job);  // settlement reads it all (park, retry, result, republish)
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
  settlement_.settle(*job, std::move(outcome));
  pump();
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
