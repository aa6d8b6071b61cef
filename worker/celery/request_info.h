#pragma once
// The request-info dict of `inspect active / reserved / scheduled / query_task`,
// built from a decoded task message.
//
// What for: Celery's Request.info() (celery/worker/request.py), which `celery inspect`,
// Flower and scripts read by key:
//   {"id", "name", "args", "kwargs", "type", "hostname", "time_start", "acknowledged",
//    "delivery_info": {"exchange", "routing_key", "priority", "redelivered"},
//    "worker_pid"}
// `name` is the shadow name when the message has one, `type` the registered task name.
// `args` / `kwargs` are the values (lists / dicts); with `safe` (`inspect active
// --safe`, arguments {"safe": true}) the argsrepr / kwargsrepr strings instead.
// `time_start` is float epoch seconds once the task runs, else null; `worker_pid` the
// pid running it, else null (Python: null until the pool accepts it).
// Also the `scheduled` entry {"eta": isoformat, "priority": 6, "request": info}: the
// priority there is Celery's timer-entry priority, a constant 6 for ETA tasks
// (celery/worker/strategy.py call_at(..., priority=6)), not the message priority.
// What not: no knowledge of which tasks are active; the app passes what it knows.
// Ownership: pure functions.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "worker/celery/task_message.h"

namespace celeriac::worker::celery {

struct RequestState {
  std::string hostname;                                             // the worker's nodename
  std::optional<std::chrono::system_clock::time_point> time_start;  // set once running
  bool acknowledged = false;                                        // message acked yet
  std::optional<std::int64_t> worker_pid;  // our pid once running, else null
};

// `safe`: argsrepr / kwargsrepr strings instead of the values (repr of the values when
// the message carried none).
nlohmann::json requestInfo(const TaskMessage& message, const RequestState& state,
                           bool safe = false);

// Celery's timer priority for held ETA tasks.
inline constexpr int kEtaTimerPriority = 6;

// {"eta": isoformat or null, "priority": 6, "request": requestInfo(...)}.
nlohmann::json scheduledEntry(const TaskMessage& message, const RequestState& state);

}  // namespace celeriac::worker::celery
