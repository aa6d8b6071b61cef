#pragma once
// readTaskFields(): the request metadata of a task message, validated into a
// TaskMessage (v2 headers, or v1 and hybrid dict bodies).
//
// What for: message_decoder.cc finds where the metadata lives (the v2 header table, a
// v1 body dict, or the merge of both for hybrid messages) and hands it here; this file
// knows each field's type and default.
// What not: no body, content-type or protocol detection logic (message_decoder.cc).
// Ownership: pure functions.
//
// Tolerance (Python's worker accepts any subset): only `id` and `task` are required; every
// other field may be absent or null and takes Celery's default. Fields whose meaning
// the worker acts on (ids, eta, expires, retries, group_index, timelimit,
// ignore_result) must have the right type or the task is invalid; display-only
// strings (shadow, origin, argsrepr, kwargsrepr) of another type are ignored.

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "worker/celery/task_message.h"

namespace celeriac::worker::celery {

// Fills id, task, shadow, root_id, parent_id, group_id, group_index, retries, eta,
// expires, time_limits, ignore_result, origin, argsrepr, kwargsrepr, stamped_headers,
// stamps and replaced_task_nesting from `meta` (a JSON object). `protocol` 1 also reads
// `taskset` as the group. The error says why the task is invalid (message_decoder
// reports it as kInvalidTask); `task` is then partly filled.
Result<void> readTaskFields(const nlohmann::json& meta, int protocol, TaskMessage& task);

// The top-level header keys Celery does not define, minus RabbitMQ's dead-letter keys
// (x-death, x-first-death-*, x-last-death-*), which must not travel on a retry.
nlohmann::json customHeaders(const nlohmann::json& headers);

}  // namespace celeriac::worker::celery
