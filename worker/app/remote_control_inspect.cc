// RemoteControl's read-only commands (`celery inspect ...`), with Celery 5.2's reply
// shapes (captured ones in tests/unit/celery/control_event_captures.h).

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "worker/app/remote_control.h"
#include "worker/celery/control_request.h"
#include "worker/celery/iso_time.h"
#include "worker/celery/request_info.h"

namespace celeriac::worker::app {

using nlohmann::json;

namespace {

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

json rusage() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return json{
      {"utime", seconds(u.ru_utime)}, {"stime", seconds(u.ru_stime)}, {"maxrss", u.ru_maxrss},
      {"ixrss", u.ru_ixrss},          {"idrss", u.ru_idrss},          {"isrss", u.ru_isrss},
      {"minflt", u.ru_minflt},        {"majflt", u.ru_majflt},        {"nswap", u.ru_nswap},
      {"inblock", u.ru_inblock},      {"oublock", u.ru_oublock},      {"msgsnd", u.ru_msgsnd},
      {"msgrcv", u.ru_msgrcv},        {"nsignals", u.ru_nsignals},    {"nvcsw", u.ru_nvcsw},
      {"nivcsw", u.ru_nivcsw}};
}

// A kombu Queue as `active_queues` lists it: Celery's task queue declaration (a direct
// exchange and routing key named after the queue).
json kombuQueue(const amqp::QueueSpec& q) {
  json arguments = nullptr;
  if (q.max_priority || q.quorum) {
    arguments = json::object();
    if (q.max_priority) arguments["x-max-priority"] = *q.max_priority;
    if (q.quorum) arguments["x-queue-type"] = "quorum";
  }
  return json{{"name", q.name},
              {"exchange",
               {{"name", q.name},
                {"type", "direct"},
                {"arguments", nullptr},
                {"durable", true},
                {"passive", false},
                {"auto_delete", false},
                {"delivery_mode", nullptr},
                {"no_declare", false}}},
              {"routing_key", q.name},
              {"queue_arguments", arguments},
              {"binding_arguments", nullptr},
              {"consumer_arguments", nullptr},
              {"durable", true},
              {"exclusive", false},
              {"auto_delete", false},
              {"no_ack", false},
              {"alias", nullptr},
              {"bindings", json::array()},
              {"no_declare", nullptr},
              {"expires", nullptr},
              {"message_ttl", nullptr},
              {"max_length", nullptr},
              {"max_length_bytes", nullptr},
              {"max_priority", q.max_priority ? json(*q.max_priority) : json(nullptr)}};
}

std::vector<std::string> idList(const json& ids) {
  std::vector<std::string> out;
  if (ids.is_string()) out.push_back(ids.get<std::string>());
  if (ids.is_array()) {
    for (const json& id : ids) {
      if (id.is_string()) out.push_back(id.get<std::string>());
    }
  }
  return out;
}

}  // namespace

json RemoteControl::ping(const json& /*arguments*/) { return celery::controlOk("pong"); }

json RemoteControl::stats(const json& /*arguments*/) {
  const WorkerConfig& c = parts_.config;
  const amqp::BrokerUrl& b = c.brokers.front();
  json timeouts = json::array();
  if (c.soft_time_limit || c.time_limit) {
    timeouts = json::array({c.soft_time_limit.value_or(0), c.time_limit.value_or(0)});
  }
  json alternates = json::array();
  for (std::size_t i = 1; i < c.brokers.size(); ++i) alternates.push_back(c.brokers[i].redacted());
  json total = json::object();
  for (const auto& [name, count] : parts_.pipeline.counters().total_by_task) total[name] = count;
  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  return json{
      {"total", total},
      {"pid", static_cast<int>(::getpid())},
      {"clock", std::to_string(parts_.clock.value())},
      {"uptime", uptime.count()},
      {"pool",
       {{"max-concurrency", parts_.pipeline.concurrency()},
        {"processes", json::array({static_cast<int>(::getpid())})},
        {"max-tasks-per-child", nullptr},
        {"put-guarded-by-semaphore", false},
        {"timeouts", timeouts}}},
      {"broker",
       {{"hostname", b.host},
        {"userid", b.user},
        {"virtual_host", b.vhost},
        {"port", b.port},
        {"insist", false},
        {"ssl", false},
        {"transport", "amqp"},
        {"connect_timeout", 4},
        {"transport_options", json::object()},
        {"login_method", "PLAIN"},
        {"uri_prefix", nullptr},
        {"heartbeat", static_cast<double>(c.heartbeat.count())},
        {"failover_strategy", "round-robin"},
        {"alternates", alternates}}},
      {"prefetch_count", parts_.pipeline.prefetchInForce()},
      {"rusage", rusage()},
      // celeriac's own, beside Celery's keys (Flower shows unknown keys as they are).
      {"celeriac",
       {{"events_sent", parts_.events.sent()},
        {"events_dropped", parts_.events.dropped()},
        {"control_dropped_replies", parts_.broker.droppedTransient()},
        {"key_set", parts_.key_set ? parts_.key_set() : json(nullptr)}}},
  };
}

json RemoteControl::active(const json& arguments) {
  const bool safe =
      arguments.value("safe", json(false)).is_boolean() && arguments.value("safe", false);
  json out = json::array();
  parts_.pipeline.forEachActive(
      [&](const TaskPipeline::JobView& job) { out.push_back(requestInfo(job, safe)); });
  return out;
}

json RemoteControl::reserved(const json& /*arguments*/) {
  json out = json::array();
  parts_.pipeline.forEachReserved(
      [&](const TaskPipeline::JobView& job) { out.push_back(requestInfo(job, false)); });
  return out;
}

json RemoteControl::scheduled(const json& /*arguments*/) {
  json out = json::array();
  parts_.pipeline.forEachScheduled([&](const TaskPipeline::JobView& job) {
    out.push_back(celery::scheduledEntry(job.message, requestState(job)));
  });
  return out;
}

json RemoteControl::revokedIds(const json& /*arguments*/) { return parts_.revoked.ids(); }

json RemoteControl::registered(const json& /*arguments*/) {
  json out = json::array();
  for (const std::string& name : parts_.registry.names()) {
    out.push_back(parts_.pipeline.describeRateLimit(name).value_or(name));
  }
  return out;
}

json RemoteControl::queryTask(const json& arguments) {
  const std::vector<std::string> ids = idList(arguments.value("ids", json::array()));
  json out = json::object();
  const auto add = [&](const char* state, const TaskPipeline::JobView& job) {
    if (std::find(ids.begin(), ids.end(), job.message.id) != ids.end()) {
      out[job.message.id] = json::array({state, requestInfo(job, false)});
    }
  };
  parts_.pipeline.forEachActive(
      [&](const TaskPipeline::JobView& j) { add("active", j); },
      [&](const std::string& id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); });
  parts_.pipeline.forEachReserved([&](const TaskPipeline::JobView& j) { add("reserved", j); });
  return out;
}

json RemoteControl::activeQueues(const json& /*arguments*/) {
  json out = json::array();
  for (const amqp::QueueSpec& q : parts_.broker.queues()) out.push_back(kombuQueue(q));
  return out;
}

json RemoteControl::clock(const json& /*arguments*/) {
  return json{{"clock", parts_.clock.value()}};
}

// Celery's setting names with this worker's values; secrets masked as Celery masks them.
json RemoteControl::conf(const json& /*arguments*/) {
  const WorkerConfig& c = parts_.config;
  json queues = json::array();
  for (const amqp::QueueSpec& q : parts_.broker.queues()) queues.push_back(q.name);
  return json{
      {"broker_url", c.brokers.front().redacted()},
      {"result_backend", c.backend.redacted()},
      {"worker_concurrency", parts_.pipeline.concurrency()},
      {"worker_prefetch_multiplier", c.prefetch_multiplier},
      {"task_acks_late", c.acks_late},
      {"task_track_started", c.track_started},
      {"result_extended", c.result_extended},
      {"result_expires", c.result_expires.count()},
      {"worker_send_task_events", parts_.events.taskEvents()},
      {"task_time_limit", c.time_limit ? json(*c.time_limit) : json(nullptr)},
      {"task_soft_time_limit", c.soft_time_limit ? json(*c.soft_time_limit) : json(nullptr)},
      {"task_queues", queues},
      {"worker_state_db", c.statedb.empty() ? json(nullptr) : json(c.statedb)}};
}

json RemoteControl::report(const json& /*arguments*/) {
  struct utsname u {};
  uname(&u);
  const WorkerConfig& c = parts_.config;
  std::string text = "\nsoftware -> celeriac (a C++ worker that speaks Celery 5.2)\n";
  text += std::string("platform -> system:") + u.sysname + " arch:" + u.machine +
          "\n            kernel version:" + u.release + "\n";
  text += "settings -> transport:amqp results:" + c.backend.redacted() + "\n\n";
  text += "broker_url: '" + c.brokers.front().redacted() + "'\n";
  text += "result_backend: '" + c.backend.redacted() + "'\n";
  text += "result_extended: " + std::string(c.result_extended ? "True" : "False") + "\n";
  text += "task_track_started: " + std::string(c.track_started ? "True" : "False") + "\n";
  text += "worker_send_task_events: " + std::string(parts_.events.taskEvents() ? "True" : "False") +
          "\n";
  return celery::controlOk(text);
}

}  // namespace celeriac::worker::app
