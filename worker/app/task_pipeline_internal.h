#pragma once
// What the TaskPipeline's source files share (task_pipeline.cc: deliveries, running and
// settling tasks; task_pipeline_republish.cc: parking and retries): the Job record and
// the task logger. Private to worker/app; include task_pipeline.h for the class.

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "worker/app/task_pipeline.h"

namespace celeriac::worker::app {

struct TaskPipeline::Job {
  JobId id = 0;
  amqp::Delivery delivery;
  celery::TaskMessage message;
  const tasks::TaskRegistry::Entry* entry = nullptr;
  std::unique_ptr<tasks::TaskRun> run;
  common::TimerId eta_timer = 0;
  common::TimerId soft_limit_timer = 0;
  common::TimerId hard_limit_timer = 0;
  common::SteadyTime started{};
  std::chrono::system_clock::time_point wall_started{};  // for `inspect active`
  common::TimerId rate_timer = 0;  // waiting for a rate limit's token
  bool acks_late = true;
  bool ignore_result = false;
  // A redelivered message whose start was counted in Redis (poison detection); its
  // count is forgotten once it finishes.
  bool start_counted = false;
  // A large body waits in one form only, the raw message (parking and retries
  // republish it as it came); its arguments are decoded again when it starts.
  bool decode_at_start = false;
};

// Where the starts of a redelivered message are counted (poison detection).
inline std::string crashCountKey(const std::string& task_id) {
  return "celeriac-redelivered-starts-" + task_id;
}

// The "celeriac.task" logger (the application may have registered it with its sinks).
inline std::shared_ptr<spdlog::logger> taskLog() {
  static auto logger = [] {
    auto existing = spdlog::get("celeriac.task");
    return existing ? existing : spdlog::default_logger()->clone("celeriac.task");
  }();
  return logger;
}

}  // namespace celeriac::worker::app
