// RemoteControl's commands that change the worker (`celery control ...`), answering
// as Celery 5.2's celery/worker/control.py does.

#include <spdlog/spdlog.h>

#include "worker/app/remote_control.h"
#include "worker/celery/python_repr.h"
#include "worker/celery/rate_limit.h"

namespace celeriac::worker::app {

using nlohmann::json;

namespace {

std::vector<std::string> taskIds(const json& arguments) {
  std::vector<std::string> ids;
  const json& given = arguments.at("task_id");  // missing: TypeError reply, as Python
  if (given.is_string()) ids.push_back(given.get<std::string>());
  if (given.is_array()) {
    for (const json& id : given) {
      if (id.is_string() && std::find(ids.begin(), ids.end(), id.get<std::string>()) == ids.end()) {
        ids.push_back(id.get<std::string>());
      }
    }
  }
  return ids;
}

std::string joined(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

std::optional<double> optionalSeconds(const json& arguments, const char* name) {
  auto it = arguments.find(name);
  if (it == arguments.end() || it->is_null()) return std::nullopt;
  return it->get<double>();
}

// Celery's answer when its autoscaler owns the pool size.
json refusedUnderAutoscale(const char* command) {
  return celery::controlError(std::string(command) +
                              " is not supported with autoscale. Adjust autoscale range instead.");
}

}  // namespace

json RemoteControl::revoke(const json& arguments) {
  const std::vector<std::string> ids = taskIds(arguments);
  parts_.revoked.add(ids);
  if (arguments.value("terminate", json(false)) == json(true)) {
    // Whatever the signal, terminating a task here means cancelling its work (its LLM
    // call): there is no process to signal.
    const std::vector<std::string> terminated = parts_.pipeline.terminate(ids);
    if (terminated.empty()) return celery::controlOk("terminate: tasks unknown");
    return celery::controlOk("terminate: " + joined(terminated));
  }
  spdlog::info("tasks flagged as revoked: {}", joined(ids));
  return celery::controlOk("tasks " + joined(ids) + " flagged as revoked");
}

json RemoteControl::terminate(const json& arguments) {
  json with_terminate = arguments;
  with_terminate["terminate"] = true;
  return revoke(with_terminate);
}

json RemoteControl::rateLimit(const json& arguments) {
  const std::string task = arguments.at("task_name").get<std::string>();
  const json& given = arguments.at("rate_limit");
  const std::string text = given.is_string() ? given.get<std::string>()
                           : given.is_null() ? std::string()
                                             : given.dump();
  const Result<celery::RateLimit> parsed = celery::parseRateLimit(text);
  if (!parsed) {
    // Celery: a ValueError is "Invalid rate limit string: ..."; a KeyError (an unknown
    // unit) escapes the command and is replied as itself.
    const std::string& repr = parsed.error().message;
    if (repr.starts_with("KeyError")) return celery::controlError(repr);
    return celery::controlError("Invalid rate limit string: " + repr);
  }
  if (parts_.registry.find(task) == nullptr) return celery::controlError("unknown task");
  parts_.pipeline.setRateLimit(task, *parsed);
  if (parsed->tasks_per_second <= 0) {
    return celery::controlOk("rate limit disabled successfully");
  }
  return celery::controlOk("new rate limit set successfully");
}

json RemoteControl::timeLimit(const json& arguments) {
  const std::string task = arguments.at("task_name").get<std::string>();
  if (parts_.registry.find(task) == nullptr) return celery::controlError("unknown task");
  parts_.pipeline.setTimeLimits(task, optionalSeconds(arguments, "soft"),
                                optionalSeconds(arguments, "hard"));
  return celery::controlOk("time limits set successfully");
}

json RemoteControl::addConsumer(const json& arguments) {
  const std::string queue = arguments.at("queue").get<std::string>();
  if (queue.empty() || queue.size() > 255) {
    return celery::controlError("queue names are 1 to 255 bytes");
  }
  // Declared like the worker's own queues (same priority and type), as Celery declares
  // an added queue from its task_queue defaults.
  amqp::QueueSpec spec{queue, std::nullopt, false};
  if (!parts_.config.topology.queues.empty()) {
    spec.max_priority = parts_.config.topology.queues.front().max_priority;
    spec.quorum = parts_.config.topology.queues.front().quorum;
  }
  parts_.broker.addQueue(spec);
  return celery::controlOk("add consumer " + queue);
}

json RemoteControl::cancelConsumer(const json& arguments) {
  const std::string queue = arguments.at("queue").get<std::string>();
  parts_.broker.removeQueue(queue);
  return celery::controlOk("no longer consuming from " + queue);
}

void RemoteControl::resize(std::size_t concurrency) {
  concurrency = std::max<std::size_t>(1, concurrency);
  parts_.config.concurrency = concurrency;
  parts_.pipeline.setConcurrency(concurrency, parts_.config.prefetch());
}

json RemoteControl::poolGrow(const json& arguments) {
  if (parts_.config.autoscale_min) return refusedUnderAutoscale("pool_grow");
  resize(parts_.pipeline.concurrency() + arguments.value("n", std::size_t{1}));
  return celery::controlOk("pool will grow");
}

json RemoteControl::poolShrink(const json& arguments) {
  if (parts_.config.autoscale_min) return refusedUnderAutoscale("pool_shrink");
  const std::size_t n = arguments.value("n", std::size_t{1});
  const std::size_t now = parts_.pipeline.concurrency();
  resize(now > n ? now - n : 1);
  return celery::controlOk("pool will shrink");
}

// One event loop has nothing to scale: the maximum is what it holds in flight. As in
// Celery, only a worker started with --autoscale has an autoscaler to update; the
// command's ValueError is replied as its repr.
json RemoteControl::autoscale(const json& arguments) {
  if (!parts_.config.autoscale_min) {
    return celery::controlError("ValueError('Autoscale not enabled')");
  }
  const auto number = [&arguments](const char* name, std::size_t fallback) -> std::size_t {
    auto it = arguments.find(name);
    return it == arguments.end() || it->is_null() ? fallback : it->get<std::size_t>();
  };
  const std::size_t max = number("max", parts_.pipeline.concurrency());
  const std::size_t min = number("min", *parts_.config.autoscale_min);
  parts_.config.autoscale_min = min;
  resize(max);
  return celery::controlOk("autoscale now max=" + std::to_string(max) +
                           " min=" + std::to_string(min));
}

json RemoteControl::enableEvents(const json& /*arguments*/) {
  return celery::controlOk(parts_.events.setTaskEvents(true) ? "task events enabled"
                                                             : "task events already enabled");
}

json RemoteControl::disableEvents(const json& /*arguments*/) {
  return celery::controlOk(parts_.events.setTaskEvents(false) ? "task events disabled"
                                                              : "task events already disabled");
}

json RemoteControl::heartbeat(const json& /*arguments*/) {
  parts_.events.heartbeatNow();
  return nullptr;
}

// Mingle: a starting Python worker swaps revoked ids with us.
json RemoteControl::hello(const json& arguments) {
  if (arguments.value("from_node", std::string()) == parts_.config.hostname) return nullptr;
  auto it = arguments.find("revoked");
  if (it != arguments.end()) parts_.revoked.mergeFromPeer(*it);
  return json{{"revoked", parts_.revoked.forPeer()}, {"clock", parts_.clock.forward()}};
}

// Gossip elections are between Python workers; celeriac takes no part.
json RemoteControl::election(const json& /*arguments*/) { return nullptr; }

}  // namespace celeriac::worker::app
