#include "worker/celery/event_body.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "worker/celery/json_object_text.h"
#include "worker/celery/python_isoformat.h"
#include "worker/celery/python_repr.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

double epochSeconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

void isoOrNull(JsonObjectText& body, std::string_view key,
               const std::optional<std::chrono::system_clock::time_point>& time) {
  if (time) {
    body.string(key, pythonIsoformat(*time));
  } else {
    body.null(key);
  }
}

void idOrNull(JsonObjectText& body, std::string_view key, const std::string& id) {
  if (id.empty()) {
    body.null(key);
  } else {
    body.string(key, id);
  }
}

// The fields every event starts with; the caller adds its own and closes.
void writeCommon(JsonObjectText& body, std::string_view type, const EventCommon& common) {
  body.string("type", type)
      .string("hostname", common.hostname)
      .integer("utcoffset", common.utcoffset_hours)
      .integer("pid", common.pid)
      .unsignedInteger("clock", common.clock)
      .number("timestamp", epochSeconds(common.timestamp));
}

// Room for the common fields and a uuid, so most bodies are one allocation.
constexpr std::size_t kTypicalEventBytes = 320;

std::string uuidEvent(std::string_view type, const EventCommon& common, std::string_view task_id) {
  std::string text;
  text.reserve(kTypicalEventBytes);
  JsonObjectText body(text);
  writeCommon(body, type, common);
  body.string("uuid", task_id);
  body.close();
  return text;
}

std::string exceptionEvent(std::string_view type, const EventCommon& common,
                           std::string_view task_id, std::string_view exception_repr,
                           std::string_view traceback) {
  std::string text;
  text.reserve(kTypicalEventBytes + exception_repr.size() + traceback.size());
  JsonObjectText body(text);
  writeCommon(body, type, common);
  body.string("uuid", task_id).string("exception", exception_repr).string("traceback", traceback);
  body.close();
  return text;
}

std::string_view workerEventType(WorkerEvent type) {
  switch (type) {
    case WorkerEvent::kOnline:
      return "worker-online";
    case WorkerEvent::kHeartbeat:
      return "worker-heartbeat";
    case WorkerEvent::kOffline:
      return "worker-offline";
  }
  return "worker-heartbeat";
}

}  // namespace

int utcoffsetHours(std::chrono::seconds local_offset_east) {
  // time.timezone is seconds WEST of UTC; Python's // floors toward -infinity.
  const long long west_s = -static_cast<long long>(local_offset_east.count());
  long long hours = west_s / 3600;
  if (west_s % 3600 != 0 && west_s < 0) --hours;
  return static_cast<int>(hours);
}

std::string eventRoutingKey(std::string_view type) {
  std::string key(type);
  std::replace(key.begin(), key.end(), '-', '.');
  return key;
}

std::string eventBody(std::string_view type, const EventCommon& common, const json& fields) {
  std::string text;
  JsonObjectText body(text);
  writeCommon(body, type, common);
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) {
      // The common fields are the event's own; a field of the same name does not replace them.
      if (key == "type" || key == "hostname" || key == "utcoffset" || key == "pid" ||
          key == "clock" || key == "timestamp") {
        continue;
      }
      body.value(key, value);
    }
  }
  body.close();
  return text;
}

std::string taskReceivedEvent(const EventCommon& common, const TaskMessage& message) {
  std::string text;
  text.reserve(kTypicalEventBytes + 256 + message.argsrepr.size() + message.kwargsrepr.size());
  JsonObjectText body(text);
  writeCommon(body, "task-received", common);
  body.string("uuid", message.id);
  body.string("name", message.shadow.empty() ? message.task : message.shadow);
  // Celery sends the argsrepr/kwargsrepr headers ('' when absent); a repr of the
  // values is more useful to Flower for messages without them (protocol v1).
  body.string("args", message.argsrepr.empty() ? pythonTupleRepr(message.args) : message.argsrepr);
  body.string("kwargs",
              message.kwargsrepr.empty() ? pythonRepr(message.kwargs) : message.kwargsrepr);
  idOrNull(body, "root_id", message.root_id);
  idOrNull(body, "parent_id", message.parent_id);
  body.integer("retries", message.retries);
  isoOrNull(body, "eta", message.eta);
  isoOrNull(body, "expires", message.expires);
  body.close();
  return text;
}

std::string taskStartedEvent(const EventCommon& common, std::string_view task_id) {
  return uuidEvent("task-started", common, task_id);
}

std::string taskSucceededEvent(const EventCommon& common, std::string_view task_id,
                               const json& result, std::chrono::duration<double> runtime) {
  std::string text;
  text.reserve(kTypicalEventBytes + 64);
  JsonObjectText body(text);
  writeCommon(body, "task-succeeded", common);
  body.string("uuid", task_id)
      .string("result", pythonRepr(result))
      .number("runtime", runtime.count());
  body.close();
  return text;
}

std::string taskFailedEvent(const EventCommon& common, std::string_view task_id,
                            std::string_view exception_repr, std::string_view traceback) {
  return exceptionEvent("task-failed", common, task_id, exception_repr, traceback);
}

std::string taskRetriedEvent(const EventCommon& common, std::string_view task_id,
                             std::string_view exception_repr, std::string_view traceback) {
  return exceptionEvent("task-retried", common, task_id, exception_repr, traceback);
}

std::string taskRejectedEvent(const EventCommon& common, std::string_view task_id, bool requeue) {
  std::string text;
  text.reserve(kTypicalEventBytes);
  JsonObjectText body(text);
  writeCommon(body, "task-rejected", common);
  body.string("uuid", task_id).boolean("requeue", requeue);
  body.close();
  return text;
}

std::string taskRevokedEvent(const EventCommon& common, std::string_view task_id, bool terminated,
                             std::optional<int> signum, bool expired) {
  std::string text;
  text.reserve(kTypicalEventBytes);
  JsonObjectText body(text);
  writeCommon(body, "task-revoked", common);
  body.string("uuid", task_id).boolean("terminated", terminated);
  if (signum) {
    body.integer("signum", *signum);
  } else {
    body.null("signum");
  }
  body.boolean("expired", expired);
  body.close();
  return text;
}

std::string workerEvent(const EventCommon& common, WorkerEvent type, const WorkerStatus& status) {
  const auto load = celeryLoadAverage(status.loadavg);
  std::string text;
  text.reserve(kTypicalEventBytes + 128);
  JsonObjectText body(text);
  writeCommon(body, workerEventType(type), common);
  body.number("freq", status.freq_s)
      .unsignedInteger("active", status.active)
      .unsignedInteger("processed", status.processed)
      .value("loadavg", json::array({load[0], load[1], load[2]}))
      .string("sw_ident", status.sw_ident)
      .string("sw_ver", status.sw_ver)
      .string("sw_sys", status.sw_sys);
  body.close();
  return text;
}

std::array<double, 3> celeryLoadAverage(const std::array<double, 3>& raw) {
  std::array<double, 3> out{};
  for (std::size_t i = 0; i < raw.size(); ++i) {
    // "+ 0.0" turns a -0.0 into 0.0, which Python (whose ceil returns an int) never shows.
    out[i] = std::isfinite(raw[i]) ? std::ceil(raw[i] * 1e2) / 1e2 + 0.0 : 0.0;
  }
  return out;
}

}  // namespace celeriac::worker::celery
