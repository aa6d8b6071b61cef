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
// AllModelsUnavailable is the one outcome that should not be final: the worker will
// park the task until retry_at. Until then it is a FAILURE, and
// allModelsUnavailable() reads the retry time back out of the ExceptionInfo so the
// pipeline can make that decision from the TaskOutcome alone.
//
// Messages never contain secrets (the balancer reports keys by alias only) and never a
// whole data URL: provider error texts may echo the request, so redactForLog() shortens
// base64 payloads and caps the length.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "balancer/call_result.h"
#include "worker/celery/exception_info.h"
#include "worker/tasks/schema_validator.h"

namespace celeriac::worker::tasks {

inline constexpr std::string_view kErrorsModule = "celeriac.errors";

// ValidationError("invalid input: image: must be ...; user_id: is required").
celery::ExceptionInfo validationError(const std::vector<SchemaError>& errors);
celery::ExceptionInfo validationError(std::string_view message);

// InvalidModelOutput quoting the first error of the first answer and of the repair.
celery::ExceptionInfo invalidModelOutput(std::string_view first_error,
                                         std::string_view repair_error);

// The FAILURE for a balancer call that did not succeed (result.ok() must be false).
celery::ExceptionInfo fromCallFailure(const balancer::CallResult& result);

struct AllModelsUnavailable {
  std::string message;
  std::vector<std::string> models;  // models the balancer considered, in route order
  // Earliest time worth retrying (wall clock, for a delayed message); nullopt if the
  // balancer could not say.
  std::optional<std::chrono::system_clock::time_point> retry_at;
};

// Reads an AllModelsUnavailable FAILURE back; nullopt for any other exception.
std::optional<AllModelsUnavailable> allModelsUnavailable(const celery::ExceptionInfo& failure);

// Text safe for a result or a log line: base64 bodies of data: URLs cut to a few
// characters with their length noted, then the whole capped at `max_chars`.
std::string redactForLog(std::string_view text, std::size_t max_chars = 500);

}  // namespace celeriac::worker::tasks
