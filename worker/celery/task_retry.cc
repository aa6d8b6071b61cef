#include "worker/celery/task_retry.h"

#include <cstdio>

#include "worker/celery/iso_time.h"
#include "worker/celery/python_repr.h"

namespace celeriac::worker::celery {

using nlohmann::json;

bool mayRetry(const TaskMessage& task, std::optional<int> max_retries) {
  if (!max_retries || *max_retries < 0) return true;
  return task.retries + 1 <= *max_retries;
}

ExceptionInfo retriesExhausted(const TaskMessage& task, const std::optional<ExceptionInfo>& exc) {
  if (exc) return *exc;
  // Python formats S.args, a tuple (Signature stores tuple(args)), and S.kwargs.
  return maxRetriesExceeded("Can't retry " + task.task + "[" + task.id + "] args:" +
                            pythonTupleRepr(task.args) + " kwargs:" + pythonRepr(task.kwargs));
}

common::Result<OutboundMessage> retryMessage(const TaskMessage& task,
                                             std::chrono::milliseconds countdown,
                                             const CanvasContext& ctx) {
  // Request.as_execution_options() plus what signature_from_request() adds.
  json options = json::object();
  options["task_id"] = task.id;
  if (!task.group_id.empty()) options["group_id"] = task.group_id;
  if (task.group_index) options["group_index"] = *task.group_index;
  if (!task.shadow.empty()) options["shadow"] = task.shadow;
  options["chord"] = task.chord;
  options["link"] = task.callbacks;
  options["link_error"] = task.errbacks;
  if (task.expires) options["expires"] = formatIsoTime(*task.expires);
  if (task.time_limits.hard_s) options["time_limit"] = *task.time_limits.hard_s;
  if (task.time_limits.soft_s) options["soft_time_limit"] = *task.time_limits.soft_s;
  options["headers"] = task.custom_headers;
  if (!task.reply_to.empty()) options["reply_to"] = task.reply_to;
  if (task.priority) options["priority"] = *task.priority;
  if (task.ignore_result) options["ignore_result"] = *task.ignore_result;
  // signature_from_request: anon-exchange deliveries go back to the queue named by the
  // routing key, others to the delivery's exchange and routing key.
  if (task.exchange.empty()) {
    options["queue"] = task.routing_key;
  } else {
    options["exchange"] = task.exchange;
    options["routing_key"] = task.routing_key;
  }
  options["countdown"] = std::chrono::duration<double>(countdown).count();
  options["argsrepr"] = pythonTupleRepr(task.args);
  options["kwargsrepr"] = pythonRepr(task.kwargs);

  json signature = json::object();
  signature["task"] = task.task;
  signature["args"] = task.args;
  signature["kwargs"] = task.kwargs;
  signature["options"] = std::move(options);
  signature["immutable"] = true;

  // send_task() fills an empty parent_id/root_id from the task that calls it: itself.
  const std::string& parent_id = task.parent_id.empty() ? task.id : task.parent_id;
  const std::string& root_id = task.root_id.empty() ? task.id : task.root_id;
  common::Result<OutboundMessage> message =
      messageForSignature(signature, json::array(), parent_id, root_id, task.chain, ctx);
  if (!message) return message;
  message->headers["retries"] = task.retries + 1;
  if (!task.stamped_headers.is_null()) {
    message->headers["stamped_headers"] = task.stamped_headers;
    message->headers["stamps"] = task.stamps;
  }
  if (task.replaced_task_nesting != 0) {
    message->headers["replaced_task_nesting"] = task.replaced_task_nesting;
  }
  return message;
}

std::string retryReason(const std::optional<ExceptionInfo>& exc,
                        std::chrono::milliseconds countdown) {
  char when[32];
  const auto ms = countdown.count();
  if (ms % 1000 == 0) {
    std::snprintf(when, sizeof when, "%lld", static_cast<long long>(ms / 1000));
  } else {
    std::snprintf(when, sizeof when, "%g", static_cast<double>(ms) / 1000.0);
  }
  std::string text = "Retry in ";
  text += when;
  text += 's';
  if (exc) {
    text += ": ";
    text += pythonExceptionRepr(exc->type, exc->args);
  }
  return text;
}

ResultRecord retryStateRecord(const TaskMessage& task, const std::optional<ExceptionInfo>& exc,
                              std::chrono::milliseconds countdown) {
  ResultRecord record = retryRecord(task, exc);
  ExceptionInfo retry;
  retry.type = "Retry";
  retry.module = "celery.exceptions";
  retry.args = json::array({retryReason(exc, countdown)});
  record.traceback = describeTraceback(task, retry);
  return record;
}

}  // namespace celeriac::worker::celery
