#pragma once
// TaskRegistry: task name -> asynchronous handler, plus per-task options.
//
// A handler starts a task and returns at once; it completes later, from the loop,
// by calling `done` exactly once with a TaskOutcome (task_outcome.h; never inside the
// handler call itself). It returns
// a TaskRun the pipeline keeps while the task is in flight: cancel() stops the work
// (timers, LLM calls) and guarantees `done` will not fire afterwards.
// Loop thread only.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/dispatcher.h"
#include "common/lifetime_token.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/task_message.h"
#include "worker/tasks/task_outcome.h"

namespace celeriac::worker::tasks {

using TaskDone = std::function<void(TaskOutcome)>;

// What a handler may use while it runs.
struct TaskContext {
  // Outlives a quick run. A run that waitsLong() must copy what it needs later: the
  // pipeline packs the message once the handler returns (app/pipeline/job_packing.h).
  const celery::TaskMessage& message;
  common::Dispatcher& dispatcher;
};

class TaskRun {
 public:
  virtual ~TaskRun() = default;
  virtual void cancel() = 0;
  // True for a run that waits seconds on a remote reply (an LLM call): the pipeline
  // then packs what its job keeps meanwhile (app/pipeline/job_packing.h). Quick runs
  // keep the default, so they pay nothing for it.
  [[nodiscard]] virtual bool waitsLong() const { return false; }
};

using TaskHandler = std::function<std::unique_ptr<TaskRun>(const TaskContext&, TaskDone)>;

struct TaskOptions {
  // Ack after the result is stored (default). false = Celery's early ack at start.
  std::optional<bool> acks_late;
  // Store STARTED before running (Celery's track_started).
  std::optional<bool> track_started;
  // Celery's Task.max_retries: a retry request from a run whose message already says
  // `retries` >= this fails the task instead. nullopt (Python's None) or a negative
  // value: retry without limit.
  std::optional<int> max_retries = 3;
  // Celery's Task.default_retry_delay: the countdown of a retry request that names none.
  std::chrono::milliseconds default_retry_delay{180'000};
  // The rest come only from the tasks config (task_options_config.h); names and
  // meanings are Celery's Task attributes.
  // Store no result (nor STARTED, nor a failure), as Celery's Task.ignore_result; a
  // message's ignore_result header can ignore a result this leaves on, not the reverse.
  bool ignore_result = false;
  // Seconds; the message's `timelimit` header wins, the worker's flags apply otherwise.
  std::optional<double> time_limit;
  std::optional<double> soft_time_limit;
  std::string rate_limit;  // "10/m" (celery/rate_limit.h); empty: none
  // With acks_late: false rejects (dead-letters) a failed or timed-out task's message
  // after storing its FAILURE instead of acking it.
  bool acks_on_failure_or_timeout = true;
  // Runs that end the worker process: true requeues the message every time, false
  // fails it with WorkerLostError at its first redelivery; unset: --max-task-crashes.
  std::optional<bool> reject_on_worker_lost;
  // Failures of these exception types retry by themselves (celery/auto_retry.h), with
  // an exponential countdown when retry_backoff (a factor in seconds; 0: off) is set.
  std::vector<std::string> autoretry_for;
  int retry_backoff = 0;
  int retry_backoff_max = 600;  // seconds
  bool retry_jitter = true;
  // The start order among prefetched tasks whose message carries no priority.
  std::optional<int> priority;
};

class TaskRegistry {
 public:
  void add(std::string name, TaskHandler handler, TaskOptions options = {});

  struct Entry {
    TaskHandler handler;
    TaskOptions options;
  };
  [[nodiscard]] const Entry* find(const std::string& name) const;
  // Replaces a registered task's options (the tasks config); false if there is none.
  bool setOptions(const std::string& name, TaskOptions options);
  // Sorted names, as `celery inspect registered` lists them.
  [[nodiscard]] std::vector<std::string> names() const;

 private:
  std::unordered_map<std::string, Entry> entries_;
};

// A TaskRun whose work is one Dispatcher timer (or a posted callback): cancel()
// cancels the timer and silences `done`. Shared by handlers that only wait.
class TimerRun final : public TaskRun {
 public:
  // Completes with `outcome` after `delay` (0: on a later loop turn).
  static std::unique_ptr<TaskRun> start(common::Dispatcher& dispatcher,
                                        std::chrono::milliseconds delay, TaskOutcome outcome,
                                        TaskDone done);
  ~TimerRun() override;
  void cancel() override;

 private:
  TimerRun(common::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  common::Dispatcher& dispatcher_;
  common::TimerId timer_ = 0;
  common::LifetimeToken lifetime_;  // revoked by cancel(): silences `done`
};

}  // namespace celeriac::worker::tasks
