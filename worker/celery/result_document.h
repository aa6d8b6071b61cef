#pragma once
// ResultRecord and renderResultDocument(): the JSON document Celery's Redis backend
// stores under `celery-task-meta-<id>` and PUBLISHes on the same channel.
//
// What for: produce exactly what a Python worker would write, so AsyncResult.get(),
// .state, .traceback, Flower and the celery CLI read our results as their own.
// What not: no Redis commands (worker/redis owns SETEX/PUBLISH) and no clock:
// `now` is an argument of every builder that needs one.
// Ownership: plain values and pure functions.
//
// Field order follows Celery 5.2.6 (schemas/fixtures/celery/rs1.jsonl): status, result, traceback,
// children, date_done, [group_id], [parent_id], [name, args, kwargs, worker, retries,
// queue], task_id.
//
// Tracebacks: where Python writes a real traceback (FAILURE, RETRY) we have no Python
// frames to show, so the builders write a short honest text instead, shaped like the
// last lines of a Python traceback so tools that print it stay readable:
//   Traceback (most recent call last):
//     celeriac task <name> [<id>]
//   <module>.<Type>: <message>
// (builtins types print without the module, as Python does). ExceptionInfo::traceback,
// when set, is used verbatim; ExceptionInfo::omit_traceback writes null.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "worker/celery/exception_info.h"
#include "worker/celery/task_message.h"
#include "worker/celery/task_state.h"

namespace celeriac::worker::celery {

struct ResultRecord {
  std::string task_id;
  TaskState state = TaskState::kPending;
  nlohmann::json result;                 // return value, encoded exception, or STARTED info
  std::optional<std::string> traceback;  // nullopt renders as null
  nlohmann::json children = nlohmann::json::array();  // result tuples, see resultTuple()
  // Rendered only for ready states (SUCCESS/FAILURE/REVOKED); null otherwise.
  std::optional<std::chrono::system_clock::time_point> date_done;
  std::string group_id;   // rendered only when non-empty
  std::string parent_id;  // rendered only when non-empty
  // result_extended fields, rendered only when `extended` is set. The builders fill
  // name, retries and queue; extendRecord() sets the rest (args and kwargs are copied
  // only then: they may be megabytes).
  bool extended = false;
  std::string name;  // the task name (not the shadow), as Celery writes request.task
  nlohmann::json args;
  nlohmann::json kwargs;
  std::string worker;  // nodename, e.g. "celeriac@host"
  int retries = 0;
  std::string queue;  // delivery routing key
};

// The JSON text of the document (compact; Python parses any whitespace). NaN and
// infinities inside `result` render as null (nlohmann); invalid UTF-8 in strings is
// replaced with U+FFFD rather than throwing.
std::string renderResultDocument(const ResultRecord& record);

// Celery's result tuple for a child task published by this one: [[id, null], null],
// listed in `children` (chain steps, callbacks, retries).
nlohmann::json resultTuple(std::string_view task_id);

// The short traceback text described above.
std::string describeTraceback(const TaskMessage& task, const ExceptionInfo& exc);

// SUCCESS with `result`, date_done = now.
ResultRecord successRecord(const TaskMessage& task, nlohmann::json result,
                           std::chrono::system_clock::time_point now);

// FAILURE with the encoded exception, date_done = now.
ResultRecord failureRecord(const TaskMessage& task, const ExceptionInfo& exc,
                           std::chrono::system_clock::time_point now);

// REVOKED with TaskRevokedError([reason]) ("expired", "revoked", "terminated"),
// traceback null, date_done = now.
ResultRecord revokedRecord(const TaskMessage& task, std::string_view reason,
                           std::chrono::system_clock::time_point now);

// STARTED with result {"pid": pid, "hostname": hostname}, date_done null.
ResultRecord startedRecord(const TaskMessage& task, std::int64_t pid, std::string_view hostname);

// Celery's result_extended: render name, args, kwargs, worker, retries and queue.
void extendRecord(ResultRecord& record, const TaskMessage& task, std::string_view worker);

// RETRY for a task whose copy is (re)published: result = the encoded exception, or
// null when retry() had none; children = [resultTuple(task.id)] because the retry is
// a child with the same id; date_done null. Note the caller passes the task as it was
// executed (retries = n), not the republished message (n+1).
ResultRecord retryRecord(const TaskMessage& task, const std::optional<ExceptionInfo>& exc);

}  // namespace celeriac::worker::celery
