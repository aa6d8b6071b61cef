#pragma once
// Time limits of a task run: which soft and hard limit applies (TimeLimits), and the
// two timers that enforce them while the run is active (TimeLimitTimers).
//
// What for: Celery's order decides a run's limits: the message's own (`timelimit`
// header), else the task's (the tasks config, changed at run time by the time_limit
// control command), else the worker's (--soft-time-limit, --time-limit). A soft limit
// ends the run with SoftTimeLimitExceeded, a hard one with TimeLimitExceeded; the
// TaskPipeline decides what that means when the timer fires.
// What not: no cancelling of the run and no result: `hit` tells the pipeline.
// Ownership: TimeLimits is a plain table; TimeLimitTimers keeps each job's timer ids
// in the Job and cancels them in disarm(). Loop thread only.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/dispatcher.h"
#include "worker/app/pipeline/job.h"
#include "worker/celery/task_message.h"

namespace celeriac::worker::app::pipeline {

class TimeLimits {
 public:
  // The worker's limits, for tasks whose message and settings set none (seconds).
  TimeLimits(std::optional<double> worker_soft_s, std::optional<double> worker_hard_s);

  // A task's limits (the tasks config at start, then the time_limit command).
  void setForTask(const std::string& task, std::optional<double> soft_s,
                  std::optional<double> hard_s);
  [[nodiscard]] std::optional<double> soft(const celery::TaskMessage& message) const;
  [[nodiscard]] std::optional<double> hard(const celery::TaskMessage& message) const;

 private:
  struct Limits {
    std::optional<double> soft_s;
    std::optional<double> hard_s;
  };
  std::map<std::string, Limits> by_task_;
  Limits worker_;
};

// The timer delay for a limit of `seconds`; nullopt for no limit: none, zero or less,
// or one longer than any timer can hold (Python accepts timelimit 1e308; anything from
// about 31 years on is no limit at all).
std::optional<std::chrono::milliseconds> limitDelay(std::optional<double> seconds);

class TimeLimitTimers {
 public:
  // `hit(id, hard)` runs when job `id`'s soft or hard limit expires.
  TimeLimitTimers(common::Dispatcher& dispatcher, std::function<void(JobId, bool hard)> hit);

  // Arms `job`'s timers (its soft_limit_timer / hard_limit_timer; 0 for no limit).
  void arm(Job& job, std::optional<double> soft_s, std::optional<double> hard_s);
  // Cancels the timers still armed.
  void disarm(Job& job);

 private:
  common::Dispatcher& dispatcher_;
  std::function<void(JobId, bool)> hit_;
};

}  // namespace celeriac::worker::app::pipeline
