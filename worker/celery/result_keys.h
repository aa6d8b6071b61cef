#pragma once
// The Redis key names of Celery 5.2's Redis result backend (backends/base.py,
// KeyValueStoreBackend.get_key_for_task / get_key_for_group), and celeriac's own.
//
// What for: one place for the names the pipeline writes results under, the chord store
// keeps a chord's bookkeeping under and the tests read back, so a Python client or
// worker finds celeriac's keys where it looks for its own.
// What not: no Redis commands and no key prefix options (Celery's defaults only).
// Ownership: pure functions returning strings.

#include <string>
#include <string_view>

namespace celeriac::worker::celery {

// "celery-task-meta-<task_id>": a task's result document.
inline constexpr std::string_view kResultKeyPrefix = "celery-task-meta-";
std::string resultKey(std::string_view task_id);

// "celery-taskset-meta-<group_id>" + suffix: a saved GroupResult (no suffix), or a
// chord's parts (".j"), its extra count (".t") and its size (".s").
std::string groupKey(std::string_view group_id, std::string_view suffix = {});

// "celeriac-redelivered-starts-<task_id>": celeriac's count of the starts of a
// redelivered message (poison detection), shared by every replica.
std::string redeliveredStartsKey(std::string_view task_id);

}  // namespace celeriac::worker::celery
