#pragma once
// TaskPipeline: what happens to one delivered task message, from decode to ack.
//
//   delivery ─decode─▶ refused? ──store FAILURE (when the id is readable)──▶ reject
//              │       unknown task? ─store FAILURE NotRegistered──────────▶ reject
//              │       expired? ─────store REVOKED "expired"───────────────▶ ack
//              ▼
//           eta far ahead? ─park in a delay tier (confirmed publish)──▶ ack
//           eta in the future? ─hold (timer, prefetch+1)─┐
//              ▼                                         ▼
//           ready queue ──(slot free, results writable; highest priority first)──▶ start
//              start: early ack unless acks_late; STARTED if track_started;
//                     arm time limits; run the handler
//              done:  store SUCCESS/FAILURE ──stored──▶ ack     (acks_late, default)
//              retry: retries left? store RETRY ─▶ publish copy (retries+1, eta; to its
//                     queue or a delay tier) ─confirmed─▶ ack; none left: FAILURE
//
// At-least-once: a late-acked delivery is acked only from the store's completion
// callback, so a crash or a Redis outage never acks a task whose result is not
// stored; the broker redelivers it. While the result store is not accepting writes
// (Redis down, backlog over its cap) no new task starts; un-started deliveries stay
// unacked and prefetch bounds how many the broker sends.
//
// The pipeline does no I/O itself: it talks to the broker and Redis through the
// PipelinePorts functions, and learns the time from the Dispatcher's clock, so it is
// unit-tested with fakes. It logs one line per task event (spdlog "celeriac.task").
// Loop thread only.
//
// Its parts, in worker/app/pipeline/: the Job record (job.h), the ready queue
// (ready_queue.h), ETA holds and rate-limit waits (eta_scheduler.h), time limits
// (time_limits.h), result writes (result_writer.h), canvas publishing (publisher.h),
// parking and retries (republish.h), chords (chords.h) and settling an outcome
// (settlement.h). TaskPipeline owns them and keeps admission (task_pipeline.cc), the
// slots, poison detection (task_pipeline_poison.cc) and the remote control
// (task_pipeline_control.cc).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/dispatcher.h"
#include "worker/amqp/amqp_connection.h"
#include "worker/app/pipeline/chords.h"
#include "worker/app/pipeline/context.h"
#include "worker/app/pipeline/eta_scheduler.h"
#include "worker/app/pipeline/job.h"
#include "worker/app/pipeline/options.h"
#include "worker/app/pipeline/ports.h"
#include "worker/app/pipeline/publisher.h"
#include "worker/app/pipeline/ready_queue.h"
#include "worker/app/pipeline/republish.h"
#include "worker/app/pipeline/result_writer.h"
#include "worker/app/pipeline/settlement.h"
#include "worker/app/pipeline/time_limits.h"
#include "worker/app/task_events.h"
#include "worker/celery/canvas.h"
#include "worker/celery/rate_limit.h"
#include "worker/celery/result_document.h"
#include "worker/celery/task_message.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::app {

class TaskPipeline {
 public:
  TaskPipeline(common::Dispatcher& dispatcher, const tasks::TaskRegistry& registry,
               PipelinePorts ports, PipelineOptions options);
  ~TaskPipeline();
  TaskPipeline(const TaskPipeline&) = delete;
  TaskPipeline& operator=(const TaskPipeline&) = delete;

  void onDelivery(amqp::Delivery delivery);
  // The channel those deliveries came on is gone: the broker will redeliver every
  // unacked one, so forget the reserved and held ones (running ones finish; their
  // results are still stored, their acks become no-ops).
  void onChannelLost();
  // Start queued tasks while slots are free and results are writable. Call when the
  // result store recovers.
  void pump();
  // Shutdown: start nothing more (reserved and held deliveries stay unacked).
  void stopStarting();
  // Grace period over: cancel what still runs; those deliveries stay unacked.
  void cancelRunning();

  [[nodiscard]] std::size_t running() const { return running_; }
  [[nodiscard]] std::size_t reserved() const { return ready_.size(); }
  [[nodiscard]] std::size_t held() const { return eta_holds_.size(); }
  // Tasks whose result write is still pending.
  [[nodiscard]] std::size_t storing() const { return in_flight_.storing; }
  // Publishes (parks, retries, follow-ups) the broker has not confirmed yet.
  [[nodiscard]] std::size_t parking() const { return in_flight_.publishing; }
  [[nodiscard]] const PipelineCounters& counters() const { return counters_; }

  // Remote control (task_pipeline_control.cc). A view of one task the worker holds.
  struct JobView {
    const celery::TaskMessage& message;
    // Its headers are null while a long run waits (packed: pipeline/job_packing.h).
    const amqp::Delivery& delivery;
    std::optional<std::chrono::system_clock::time_point> started;  // running ones only
    bool acknowledged = false;
  };
  // `wanted`, if given, picks by task id before a waiting job's message is decoded for
  // the view (job_packing.h), so looking for a few ids among thousands stays cheap.
  void forEachActive(const std::function<void(const JobView&)>& visit,
                     const std::function<bool(const std::string& task_id)>& wanted = {}) const;
  // Waiting for a slot, or for a rate limit's token.
  void forEachReserved(const std::function<void(const JobView&)>& visit) const;
  // Held in memory until their eta.
  void forEachScheduled(const std::function<void(const JobView&)>& visit) const;
  // Ends the running tasks with these ids (revoke --terminate): their work is
  // cancelled, REVOKED TaskRevokedError('terminated') is stored, the message acked.
  // Returns the ids that were running.
  std::vector<std::string> terminate(const std::vector<std::string>& ids);
  // Celery's rate_limit command: at most limit.tasks_per_second starts of `task` (0: none),
  // enforced before the balancer sees the call; waiting tasks stay reserved.
  void setRateLimit(const std::string& task, const celery::RateLimit& limit);
  // "name [rate_limit=10/m]" when `task` has a limit (`inspect registered`).
  [[nodiscard]] std::optional<std::string> describeRateLimit(const std::string& task) const;
  // Celery's time_limit command: limits for `task` when its message sets none.
  void setTimeLimits(const std::string& task, std::optional<double> soft_s,
                     std::optional<double> hard_s);
  // pool_grow / pool_shrink / autoscale: tasks in flight at once, and the prefetch
  // that goes with it (concurrency x multiplier).
  void setConcurrency(std::size_t concurrency, std::uint16_t prefetch);
  [[nodiscard]] std::size_t concurrency() const { return options_.concurrency; }
  // The basic.qos value in force (base prefetch + held ETA tasks, or backpressure's).
  [[nodiscard]] std::uint16_t prefetchInForce() const { return prefetch_sent_; }

 private:
  using Job = pipeline::Job;
  using JobId = pipeline::JobId;

  // Stores a FAILURE for `task_id` (when readable) and rejects without requeue;
  // `message` is the decoded task when there is one (its fields go into the record).
  void refuse(const amqp::Delivery& delivery, const std::string& task_id,
              celery::ExceptionInfo error, const std::string& log_reason,
              const celery::TaskMessage* message = nullptr);
  // onDelivery's work; onDelivery contains what it throws.
  void receive(amqp::Delivery delivery);
  void hold(std::unique_ptr<Job> job, std::chrono::milliseconds delay);
  // What the parts share: references to this pipeline's loop, ports, options, counters.
  [[nodiscard]] pipeline::Context context() {
    return pipeline::Context{dispatcher_, ports_, options_, counters_, in_flight_};
  }
  void enqueue(std::unique_ptr<Job> job);
  void start(std::unique_ptr<Job> job);
  // A redelivered job: count its start in Redis first, then run it or, when its runs
  // keep ending the process, fail it as a poison message.
  void countStartThenRun(std::unique_ptr<Job> job);
  [[nodiscard]] bool runningHere(const std::string& task_id) const;
  void failPoison(std::unique_ptr<Job> job, long long starts);
  void finish(JobId id, tasks::TaskOutcome outcome);
  // Removes a running job and releases what it holds (its slot, time-limit timers, run
  // object on a later turn, poison count) and unpacks it (job_packing.h); null
  // if it is not running. finish() and terminate() settle it afterwards.
  std::unique_ptr<Job> takeActive(JobId id);
  void timeLimitHit(JobId id, bool hard);
  void updatePrefetch();
  [[nodiscard]] bool expired(const celery::TaskMessage& m) const;
  [[nodiscard]] bool revoked(const celery::TaskMessage& m) const;
  // A rate-limited task without a token waits (reserved) until its token is due.
  [[nodiscard]] bool waitForRateLimit(std::unique_ptr<Job>& job);
  // Per-task options (task_pipeline_options.cc): the registry's rate and time limits
  // as the starting values the control commands change; a job's start priority; the
  // crash count that makes it poison.
  void applyTaskDefaults();
  [[nodiscard]] int priorityOf(const Job& job) const;
  [[nodiscard]] int maxCrashesFor(const Job& job) const;

  common::Dispatcher& dispatcher_;
  const tasks::TaskRegistry& registry_;
  PipelinePorts ports_;
  PipelineOptions options_;
  PipelineCounters counters_;
  pipeline::InFlight in_flight_;
  pipeline::ResultWriter writer_;
  pipeline::Publisher publisher_;
  pipeline::Republisher republisher_;
  pipeline::Chords chords_;
  pipeline::Settlement settlement_;

  JobId next_id_ = 1;
  // Waiting for a slot: by message priority, then arrival.
  pipeline::ReadyQueue<std::unique_ptr<Job>> ready_;
  std::unordered_map<JobId, std::unique_ptr<Job>> active_;    // running
  std::unordered_map<JobId, std::unique_ptr<Job>> counting_;  // start being counted (slot held)
  std::size_t running_ = 0;
  bool starting_ = true;
  JobId starting_job_ = 0;  // the job whose handler is being called right now
  std::uint16_t prefetch_sent_ = 0;
  pipeline::EtaScheduler eta_holds_;   // waiting for their eta (raising prefetch)
  pipeline::EtaScheduler rate_waits_;  // waiting for a rate limit's token
  // Remote control's per-task settings.
  celery::TaskRateLimiter rate_limits_;
  pipeline::TimeLimits time_limits_;  // by task, from config and the time_limit command
  pipeline::TimeLimitTimers limit_timers_;
};

}  // namespace celeriac::worker::app
