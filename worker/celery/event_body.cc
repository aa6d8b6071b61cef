#include "worker/celery/event_body.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "worker/celery/python_isoformat.h"
#include "worker/celery/python_repr.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

double epochSeconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

json isoOrNull(const std::optional<std::chrono::system_clock::time_point>& time) {
  return time ? json(pythonIsoformat(*time)) : json(nullptr);
}

json idOrNull(const std::string& id) { return id.empty() ? json(nullptr) : json(id); }

json uuidEvent(std::string_view type, const EventCommon& common, std::string_view task_id,
               json fields = json::object()) {
  fields["uuid"] = std::string(task_id);
  return eventBody(type, common, std::move(fields));
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

json eventBody(std::string_view type, const EventCommon& common, json fields) {
  json body = fields.is_object() ? std::move(fields) : json::object();
  body["type"] = std::string(type);
  body["hostname"] = common.hostname;
  body["utcoffset"] = common.utcoffset_hours;
  body["pid"] = common.pid;
  body["clock"] = common.clock;
  body["timestamp"] = epochSeconds(common.timestamp);
  return body;
}

json taskReceivedEvent(const EventCommon& common, const TaskMessage& message) {
  json fields = json::object();
  fields["name"] = message.shadow.empty() ? message.task : message.shadow;
  // Celery sends the argsrepr/kwargsrepr headers ('' when absent); a repr of the
  // values is more useful to Flower for messages without them (protocol v1).
  fields["args"] = message.argsrepr.empty() ? pythonTupleRepr(message.args) : message.argsrepr;
  fields["kwargs"] = message.kwargsrepr.empty() ? pythonRepr(message.kwargs) : message.kwargsrepr;
  fields["root_id"] = idOrNull(message.root_id);
  fields["parent_id"] = idOrNull(message.parent_id);
  fields["retries"] = message.retries;
  fields["eta"] = isoOrNull(message.eta);
  fields["expires"] = isoOrNull(message.expires);
  return uuidEvent("task-received", common, message.id, std::move(fields));
}

json taskStartedEvent(const EventCommon& common, std::string_view task_id) {
  return uuidEvent("task-started", common, task_id);
}

json taskSucceededEvent(const EventCommon& common, std::string_view task_id, const json& result,
                        std::chrono::duration<double> runtime) {
  return uuidEvent("task-succeeded", common, task_id,
                   json{{"result", pythonRepr(result)}, {"runtime", runtime.count()}});
}

json taskFailedEvent(const EventCommon& common, std::string_view task_id,
                     std::string_view exception_repr, std::string_view traceback) {
  return uuidEvent(
      "task-failed", common, task_id,
      json{{"exception", std::string(exception_repr)}, {"traceback", std::string(traceback)}});
}

json taskRetriedEvent(const EventCommon& common, std::string_view task_id,
                      std::string_view exception_repr, std::string_view traceback) {
  return uuidEvent(
      "task-retried", common, task_id,
      json{{"exception", std::string(exception_repr)}, {"traceback", std::string(traceback)}});
}

json taskRejectedEvent(const EventCommon& common, std::string_view task_id, bool requeue) {
  return uuidEvent("task-rejected", common, task_id, json{{"requeue", requeue}});
}

json taskRevokedEvent(const EventCommon& common, std::string_view task_id, bool terminated,
                      std::optional<int> signum, bool expired) {
  return uuidEvent("task-revoked", common, task_id,
                   json{{"terminated", terminated},
                        {"signum", signum ? json(*signum) : json(nullptr)},
                        {"expired", expired}});
}

json workerEvent(const EventCommon& common, WorkerEvent type, const WorkerStatus& status) {
  const auto load = celeryLoadAverage(status.loadavg);
  json fields = json::object();
  fields["freq"] = status.freq_s;
  fields["active"] = status.active;
  fields["processed"] = status.processed;
  fields["loadavg"] = json::array({load[0], load[1], load[2]});
  fields["sw_ident"] = status.sw_ident;
  fields["sw_ver"] = status.sw_ver;
  fields["sw_sys"] = status.sw_sys;
  return eventBody(workerEventType(type), common, std::move(fields));
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
