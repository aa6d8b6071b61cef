#pragma once
// The Celery exceptions of the LLM tasks, and how balancer failures become them.
//
// Every type here is stored with module "celeriac.errors": Python's AsyncResult.get()
// raises a synthetic class of that name (or the real one if the caller defines
// celeriac.errors), so callers can `except` on the name. The types:
//   ValidationError        task input broke its schema; no LLM call was made
//   InvalidModelOutput     the model's answer was not valid JSON / broke the result
//                          schema, twice (first answer and one repair)
//   LlmCallerError         the provider refused the request (4xx) or the route is unknown
//   LlmDeadlineExceeded    the call's deadline passed
//   LlmUnavailable         the balancer's attempt cap was reached
//   AllModelsUnavailable   no model of the route can take the call now; args are
//                          [message, retry_at (ISO 8601 UTC or null), [models tried]]
//   LlmCancelled           the balancer cancelled the call on its own (not via TaskRun)
// AllModelsUnavailable is the one outcome that should not be final: such a call ends
// the task with an Unavailable outcome (task_outcome.h) carrying retry_at and the
// models as typed fields, and the worker parks the task until retry_at; the FAILURE
// (unavailableError()) is stored only when it cannot be parked.
//
// Messages never contain secrets (the balancer reports keys by alias only) and never a
// whole data URL: provider error texts may echo the request, so redactForLog() shortens
// base64 payloads and caps the length.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "balancer/call_result.h"
#include "worker/celery/exception_info.h"
#include "worker/tasks/schema_validator.h"
#include "worker/tasks/task_outcome.h"

namespace celeriac::worker::tasks {

inline constexpr std::string_view kErrorsModule = "celeriac.errors";

// ValidationError("invalid input: image: must be ...; user_id: is required").
celery::ExceptionInfo validationError(const std::vector<SchemaError>& errors);
celery::ExceptionInfo validationError(std::string_view message);

// InvalidModelOutput quoting the first error of the first answer and of the repair.
celery::ExceptionInfo invalidModelOutput(std::string_view first_error,
                                         std::string_view repair_error);

// How a task ends when its balancer call did not succeed (result.ok() must be false):
// Unavailable when no model of the route can take the call now (every model down, or
// every attempt failed for a reason that passes), else a Failure with one of the
// exceptions above.
using LlmCallFailure = std::variant<Failure, Unavailable>;
LlmCallFailure fromCallFailure(const balancer::CallResult& result);

// The AllModelsUnavailable exception of an Unavailable outcome, as stored when the task
// cannot be parked: args [message, retry_at (ISO 8601 UTC, microseconds) or null, models].
celery::ExceptionInfo unavailableError(const Unavailable& unavailable);

// Text safe for a result or a log line: base64 bodies of data: URLs cut to a few
// characters with their length noted, then the whole capped at `max_chars`.
std::string redactForLog(std::string_view text, std::size_t max_chars = 500);

}  // namespace celeriac::worker::tasks
