#include "worker/celery/request_info.h"

#include "worker/celery/python_isoformat.h"
#include "worker/celery/python_repr.h"

namespace celeriac::worker::celery {

using nlohmann::json;

json requestInfo(const TaskMessage& message, const RequestState& state, bool safe) {
  json info = json::object();
  info["id"] = message.id;
  info["name"] = message.shadow.empty() ? message.task : message.shadow;
  if (safe) {
    info["args"] = message.argsrepr.empty() ? pythonTupleRepr(message.args) : message.argsrepr;
    info["kwargs"] = message.kwargsrepr.empty() ? pythonRepr(message.kwargs) : message.kwargsrepr;
  } else {
    info["args"] = message.args;
    info["kwargs"] = message.kwargs;
  }
  info["type"] = message.task;
  info["hostname"] = state.hostname;
  info["time_start"] =
      state.time_start
          ? json(std::chrono::duration<double>(state.time_start->time_since_epoch()).count())
          : json(nullptr);
  info["acknowledged"] = state.acknowledged;
  info["delivery_info"] = json{
      {"exchange", message.exchange},
      {"routing_key", message.routing_key},
      {"priority", message.priority ? json(*message.priority) : json(nullptr)},
      {"redelivered", message.redelivered},
  };
  info["worker_pid"] = state.worker_pid ? json(*state.worker_pid) : json(nullptr);
  return info;
}

json scheduledEntry(const TaskMessage& message, const RequestState& state) {
  return json{
      {"eta", message.eta ? json(pythonIsoformat(*message.eta)) : json(nullptr)},
      {"priority", kEtaTimerPriority},
      {"request", requestInfo(message, state)},
  };
}

}  // namespace celeriac::worker::celery
