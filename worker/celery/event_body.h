#pragma once
// Celery event bodies: what the worker publishes on the `celeryev` topic exchange so
// that Flower, `celery events` and celery.events.state see it.
//
// What for: the app builds each body here, forwards the LamportClock for it, and
// publishes it (JSON, delivery_mode 1, headers {"hostname": nodename}) with routing key
// eventRoutingKey(type). Field names and types are those Celery 5.2.6 sent (captured
// in tests/unit/celery/control_event_captures.h). Bodies are returned as JSON text,
// written field by field (json_object_text.h) rather than built as a tree: three per
// task with -E, and the tree cost more than everything else events add to a task.
// Receivers correct `timestamp` by `utcoffset` (celery.events.receiver: ts - (utcoffset
// - their own utcoffset) * 3600), so a wrong utcoffset shifts every timestamp by hours
// and Flower then thinks the worker's heartbeats are stale: compute it with
// utcoffsetHours() from the host's real offset.
// What not: no batching into `task.multi` and no decision of when to send (both the
// app's: event_dispatcher.h batches, the pipeline calls task_events.h when).
// Ownership: pure functions returning values.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "worker/celery/task_message.h"

namespace celeriac::worker::celery {

// The fields every event carries.
struct EventCommon {
  std::string hostname;     // the worker's nodename, e.g. "celeriac@host"
  int utcoffset_hours = 0;  // utcoffsetHours(): hours WEST of UTC, 0 on UTC hosts
  std::int64_t pid = 0;
  std::uint64_t clock = 0;                          // LamportClock::forward(), one per event
  std::chrono::system_clock::time_point timestamp;  // written as float epoch seconds
};

// Celery's utcoffset(): `time.timezone // 3600` (time.altzone in DST), i.e. hours WEST
// of UTC with Python's floor division. `local_offset_east` is the host's current offset
// east of UTC including DST (tm_gmtoff): +02:00 gives -2, -03:30 gives 3, +05:30 gives -6.
int utcoffsetHours(std::chrono::seconds local_offset_east);

// "task-succeeded" -> "task.succeeded": the routing key Celery publishes an event under.
std::string eventRoutingKey(std::string_view type);

// Builds {hostname, utcoffset, pid, clock, timestamp, type} plus `fields` (an object).
std::string eventBody(std::string_view type, const EventCommon& common,
                      const nlohmann::json& fields = nlohmann::json::object());

// --- task events ---

// uuid, name (the shadow name when set, as Celery's req.name), args / kwargs (the
// argsrepr / kwargsrepr headers; repr of the values when a message has none), root_id,
// parent_id (null when absent), retries, eta / expires (isoformat or null).
std::string taskReceivedEvent(const EventCommon& common, const TaskMessage& message);

std::string taskStartedEvent(const EventCommon& common, std::string_view task_id);

// `result` is the task's return value; the event carries its repr (a string, e.g. "5").
std::string taskSucceededEvent(const EventCommon& common, std::string_view task_id,
                               const nlohmann::json& result, std::chrono::duration<double> runtime);

// `exception_repr` as Python's repr() of the exception (pythonExceptionRepr in
// python_repr.h); `traceback` the text stored in the result document.
std::string taskFailedEvent(const EventCommon& common, std::string_view task_id,
                            std::string_view exception_repr, std::string_view traceback);
std::string taskRetriedEvent(const EventCommon& common, std::string_view task_id,
                             std::string_view exception_repr, std::string_view traceback);

std::string taskRejectedEvent(const EventCommon& common, std::string_view task_id, bool requeue);

// terminated: killed by `revoke --terminate`; signum: the signal then, else null;
// expired: the message's `expires` had passed.
std::string taskRevokedEvent(const EventCommon& common, std::string_view task_id, bool terminated,
                             std::optional<int> signum, bool expired);

// --- worker events ---

// sw_ident / sw_ver: Python workers say "py-celery" / their version. Nothing in Celery
// 5.2 (celery.events.state.Worker stores them verbatim), its CLI or Flower (which only
// shows them) branches on either, so we tell the truth: operators can then tell a
// celeriac worker from a Python one in Flower. sw_ver is the app's version.
inline constexpr std::string_view kSoftwareIdent = "celeriac";

struct WorkerStatus {
  double freq_s = 2.0;              // heartbeat interval; receivers expire a worker after 2 x freq
  std::size_t active = 0;           // tasks running now
  std::uint64_t processed = 0;      // tasks finished since start
  std::array<double, 3> loadavg{};  // as getloadavg(3) gives it; rounded here
  std::string sw_ident = std::string(kSoftwareIdent);
  std::string sw_ver;
  std::string sw_sys = "Linux";  // Python's platform.system()
};

enum class WorkerEvent { kOnline, kHeartbeat, kOffline };

// "worker-online" / "worker-heartbeat" / "worker-offline" with freq, active, processed,
// loadavg, sw_ident, sw_ver, sw_sys.
std::string workerEvent(const EventCommon& common, WorkerEvent type, const WorkerStatus& status);

// Celery's load_average(): each value ceil'ed (not rounded) to 2 decimals,
// ceil(x * 100) / 100, float quirks included (0.07 becomes 0.08, as in Python).
std::array<double, 3> celeryLoadAverage(const std::array<double, 3>& raw);

}  // namespace celeriac::worker::celery
