#pragma once
// TaskOutcome: how one run of a task ended, as the handler reports it through `done`.
//
//   Success       a return value (any JSON); or, with `applies`, a canvas the task
//                 applies from inside (celery.chunks), whose result tuple the pipeline
//                 makes the return value
//   Failure       an exception Python can re-raise
//   Retry         Celery's `raise self.retry(exc=.., countdown=..)`
//   Unavailable   no LLM model of the route can take the call now: the worker parks
//                 the task until `retry_at` (the AllModelsUnavailable FAILURE is what
//                 is stored only if it cannot, llm_errors.h unavailableError())
//
// What for: the handlers (worker/tasks) produce it, the TaskPipeline settles it; every
// field is typed, so no decision reads a value back out of an exception's args.
// What not: no rendering (result documents are worker/celery's) and no I/O.
// Ownership: plain values.

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/celery/exception_info.h"

namespace celeriac::worker::tasks {

struct Success {
  nlohmann::json value = nullptr;
  // A canvas signature the task applies from inside, as a Python task calling
  // sig.apply_async(): the pipeline publishes it with this task as parent, and the
  // return value becomes its result tuple (a GroupResult is stored as its as_tuple(),
  // backends/base.py prepare_value()), listed in children. Null: none.
  nlohmann::json applies = nullptr;
};

struct Failure {
  celery::ExceptionInfo error;
};

// The pipeline stores RETRY and republishes the message with retries + 1, or, once the
// task's max_retries is used up, fails the task with `exc` (MaxRetriesExceededError
// when there is none), as Celery 5.2 does.
struct Retry {
  std::optional<celery::ExceptionInfo> exc;  // the reason; nullopt: retry() without exc
  // Delay before the next run; nullopt: the task's default_retry_delay.
  std::optional<std::chrono::milliseconds> countdown;
};

struct Unavailable {
  std::string message;  // the AllModelsUnavailable message (already shortened for logs)
  // Earliest time worth retrying (wall clock, whole microseconds as stored); nullopt
  // if the balancer could not say.
  std::optional<std::chrono::system_clock::time_point> retry_at;
  std::vector<std::string> models;  // models the balancer considered, in route order
};

using TaskOutcome = std::variant<Success, Failure, Retry, Unavailable>;

}  // namespace celeriac::worker::tasks
