#include "worker/app/pipeline/time_limits.h"

#include <cstdint>
#include <utility>

namespace celeriac::worker::app::pipeline {

namespace {
// Time limits at or beyond this (about 31 years) are no limit at all.
constexpr double kNoTimeLimitBeyondSeconds = 1e9;
}  // namespace

TimeLimits::TimeLimits(std::optional<double> worker_soft_s, std::optional<double> worker_hard_s)
    : worker_{worker_soft_s, worker_hard_s} {}

void TimeLimits::setForTask(const std::string& task, std::optional<double> soft_s,
                            std::optional<double> hard_s) {
  by_task_[task] = Limits{soft_s, hard_s};
}

std::optional<double> TimeLimits::soft(const celery::TaskMessage& message) const {
  if (message.time_limits.soft_s) return message.time_limits.soft_s;
  auto it = by_task_.find(message.task);
  if (it != by_task_.end() && it->second.soft_s) return it->second.soft_s;
  return worker_.soft_s;
}

std::optional<double> TimeLimits::hard(const celery::TaskMessage& message) const {
  if (message.time_limits.hard_s) return message.time_limits.hard_s;
  auto it = by_task_.find(message.task);
  if (it != by_task_.end() && it->second.hard_s) return it->second.hard_s;
  return worker_.hard_s;
}

std::optional<std::chrono::milliseconds> limitDelay(std::optional<double> seconds) {
  // The converted count would overflow for a limit longer than any timer can hold.
  if (!seconds || *seconds <= 0 || !(*seconds < kNoTimeLimitBeyondSeconds)) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*seconds * 1000.0));
}

TimeLimitTimers::TimeLimitTimers(common::Dispatcher& dispatcher,
                                 std::function<void(JobId, bool)> hit)
    : dispatcher_(dispatcher), hit_(std::move(hit)) {}

void TimeLimitTimers::arm(Job& job, std::optional<double> soft_s, std::optional<double> hard_s) {
  const JobId id = job.id;
  const auto arm_one = [this, id](std::optional<double> seconds, bool hard) -> common::TimerId {
    const auto delay = limitDelay(seconds);
    if (!delay) return 0;
    return dispatcher_.schedule(*delay, [this, id, hard] { hit_(id, hard); });
  };
  job.soft_limit_timer = arm_one(soft_s, false);
  job.hard_limit_timer = arm_one(hard_s, true);
}

void TimeLimitTimers::disarm(Job& job) {
  if (job.soft_limit_timer != 0) dispatcher_.cancel(job.soft_limit_timer);
  if (job.hard_limit_timer != 0) dispatcher_.cancel(job.hard_limit_timer);
  job.soft_limit_timer = 0;
  job.hard_limit_timer = 0;
}

}  // namespace celeriac::worker::app::pipeline
