#pragma once
// TaskState: Celery's task states as stored in result documents.
//
// What for: the `status` field of result documents and the ready/not-ready split
// that decides whether `date_done` is set and whether a client's get() returns.
// What not: Celery's internal REJECTED/IGNORED and custom states (update_state) are
// not modelled; PENDING and RECEIVED are never stored by Celery.
// Ownership: pure functions, no state.

#include <optional>
#include <string_view>

namespace celeriac::worker::celery {

enum class TaskState { kPending, kReceived, kStarted, kRetry, kSuccess, kFailure, kRevoked };

// The wire name: "PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE",
// "REVOKED".
std::string_view stateName(TaskState state);

// The inverse of stateName(); nullopt for names not listed above.
std::optional<TaskState> parseTaskState(std::string_view name);

// READY_STATES = {SUCCESS, FAILURE, REVOKED} (celery.states).
bool isReady(TaskState state);

// EXCEPTION_STATES = {RETRY, FAILURE, REVOKED}: `result` holds an encoded exception.
bool isExceptionState(TaskState state);

}  // namespace celeriac::worker::celery
