#include "worker/celery/result_document.h"

#include <utility>

#include "worker/celery/iso_time.h"
#include "worker/celery/python_json.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

bool isEncodedException(const json& value) {
  return value.is_object() && value.size() == 3 && value.contains("exc_type") &&
         value.contains("exc_message") && value.contains("exc_module");
}

bool isStartedInfo(const json& value) {
  return value.is_object() && value.size() == 2 && value.contains("pid") &&
         value.contains("hostname");
}

// nlohmann::json keeps object keys sorted; Celery writes an exception as exc_type,
// exc_message, exc_module and STARTED info as pid, hostname.
// Other objects keep their (sorted) order: clients read them as dicts.
ordered_json toOrdered(const json& value) {
  if (isStartedInfo(value)) {
    ordered_json ordered = ordered_json::object();
    ordered["pid"] = ordered_json(value.at("pid"));
    ordered["hostname"] = ordered_json(value.at("hostname"));
    return ordered;
  }
  if (!isEncodedException(value)) return ordered_json(value);
  ordered_json ordered = ordered_json::object();
  ordered["exc_type"] = ordered_json(value.at("exc_type"));
  ordered["exc_message"] = ordered_json(value.at("exc_message"));
  ordered["exc_module"] = ordered_json(value.at("exc_module"));
  return ordered;
}

// Everything a record shares with every other state.
ResultRecord baseRecord(const TaskMessage& task, TaskState state) {
  ResultRecord record;
  record.task_id = task.id;
  record.state = state;
  record.group_id = task.group_id;
  record.parent_id = task.parent_id;
  record.name = task.task;
  // args and kwargs only with extendRecord(): an analysis image may be megabytes, and
  // without result_extended nothing renders them.
  record.retries = task.retries;
  record.queue = task.routing_key;
  return record;
}

std::optional<std::string> tracebackFor(const TaskMessage& task, const ExceptionInfo& exc) {
  if (exc.omit_traceback) return std::nullopt;
  if (!exc.traceback.empty()) return exc.traceback;
  return describeTraceback(task, exc);
}

// Roughly Python's str(exc): one argument prints itself, several print as a tuple.
std::string describeArgs(const json& args) {
  const auto text = [](const json& value) {
    return value.is_string() ? value.get<std::string>() : dumpPythonJson(value);
  };
  if (!args.is_array()) return text(args);
  if (args.empty()) return "";
  if (args.size() == 1) return text(args.front());
  std::string joined = "(";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i > 0) joined += ", ";
    joined += dumpPythonJson(args[i]);
  }
  return joined + ")";
}

}  // namespace

std::string renderResultDocument(const ResultRecord& record) {
  ordered_json doc = ordered_json::object();
  doc["status"] = std::string(stateName(record.state));
  doc["result"] = toOrdered(record.result);
  doc["traceback"] = record.traceback ? ordered_json(*record.traceback) : ordered_json(nullptr);
  doc["children"] = ordered_json(record.children.is_null() ? json::array() : record.children);
  doc["date_done"] = (isReady(record.state) && record.date_done)
                         ? ordered_json(formatIsoTime(*record.date_done))
                         : ordered_json(nullptr);
  // group_id / parent_id appear only when the request had them.
  if (!record.group_id.empty()) doc["group_id"] = record.group_id;
  if (!record.parent_id.empty()) doc["parent_id"] = record.parent_id;
  if (record.extended) {
    doc["name"] = record.name;
    doc["args"] = ordered_json(record.args);
    doc["kwargs"] = ordered_json(record.kwargs);
    doc["worker"] = record.worker;
    doc["retries"] = record.retries;
    doc["queue"] = record.queue;
  }
  // task_id last, and always: a document without it makes get() raise KeyError('task_id').
  doc["task_id"] = record.task_id;
  // Python's json.loads must read back what the task returned: NaN, Infinity and
  // integers of any size included (python_json.h).
  return dumpPythonJson(doc);
}

json resultTuple(std::string_view task_id) {
  return json::array({json::array({std::string(task_id), nullptr}), nullptr});
}

std::string describeTraceback(const TaskMessage& task, const ExceptionInfo& exc) {
  std::string text = "Traceback (most recent call last):\n  celeriac task ";
  text += task.task;
  text += " [";
  text += task.id;
  text += "]\n";
  // Python prints builtins without the module prefix ("ValueError: x").
  if (!exc.module.empty() && exc.module != "builtins") {
    text += exc.module;
    text += '.';
  }
  text += exc.type;
  const std::string message = describeArgs(exc.args);
  if (!message.empty()) {
    text += ": ";
    text += message;
  }
  text += '\n';
  return text;
}

ResultRecord successRecord(const TaskMessage& task, json result,
                           std::chrono::system_clock::time_point now) {
  ResultRecord record = baseRecord(task, TaskState::kSuccess);
  record.result = std::move(result);
  record.date_done = now;
  return record;
}

ResultRecord failureRecord(const TaskMessage& task, const ExceptionInfo& exc,
                           std::chrono::system_clock::time_point now) {
  ResultRecord record = baseRecord(task, TaskState::kFailure);
  record.result = encodeException(exc);
  record.traceback = tracebackFor(task, exc);
  record.date_done = now;
  return record;
}

ResultRecord revokedRecord(const TaskMessage& task, std::string_view reason,
                           std::chrono::system_clock::time_point now) {
  ResultRecord record = baseRecord(task, TaskState::kRevoked);
  record.result = encodeException(taskRevoked(reason));
  record.date_done = now;
  return record;
}

ResultRecord startedRecord(const TaskMessage& task, std::int64_t pid, std::string_view hostname) {
  ResultRecord record = baseRecord(task, TaskState::kStarted);
  record.result = json::object();
  record.result["pid"] = pid;
  record.result["hostname"] = std::string(hostname);
  return record;
}

ResultRecord retryRecord(const TaskMessage& task, const std::optional<ExceptionInfo>& exc) {
  ResultRecord record = baseRecord(task, TaskState::kRetry);
  if (exc) {
    record.result = encodeException(*exc);
    record.traceback = tracebackFor(task, *exc);
  }
  record.children = json::array({resultTuple(task.id)});
  return record;
}

void extendRecord(ResultRecord& record, const TaskMessage& task, std::string_view worker) {
  record.extended = true;
  record.worker = std::string(worker);
  record.args = task.args;
  record.kwargs = task.kwargs;
}

}  // namespace celeriac::worker::celery
