#include "worker/app/event_dispatcher.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <ctime>

#include "worker/celery/event_body.h"
#include "worker/celery/python_json.h"
#include "worker/celery/python_repr.h"

namespace celeriac::worker::app {

namespace {

// Hours west of UTC, as Python's time.timezone (or altzone in summer time).
int localUtcOffsetHours(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&t, &local);
  return celery::utcoffsetHours(std::chrono::seconds(local.tm_gmtoff));
}

std::string exceptionRepr(const celery::ExceptionInfo& e) {
  return celery::pythonExceptionRepr(e.type, e.args);
}

}  // namespace

EventDispatcher::EventDispatcher(common::Dispatcher& dispatcher, celery::LamportClock& clock,
                                 Options options, Ports ports)
    : dispatcher_(dispatcher),
      clock_(clock),
      options_(std::move(options)),
      ports_(std::move(ports)) {}

EventDispatcher::~EventDispatcher() {
  if (heartbeat_timer_ != 0) dispatcher_.cancel(heartbeat_timer_);
}

// Each event takes the clock value and time of the moment it happens, not of the flush.
celery::EventCommon EventDispatcher::commonFields() {
  const auto now = dispatcher_.clock().wallNow();
  if (now >= utcoffset_until_) {
    utcoffset_hours_ = localUtcOffsetHours(now);
    utcoffset_until_ = now + std::chrono::minutes(1);
  }
  return celery::EventCommon{options_.hostname, utcoffset_hours_, options_.pid, clock_.forward(),
                             now};
}

bool EventDispatcher::setTaskEvents(bool on) {
  if (options_.task_events == on) return false;
  options_.task_events = on;
  spdlog::info("task events {}", on ? "enabled" : "disabled");
  return true;
}

void EventDispatcher::connected() {
  if (!options_.worker_events || online_) return;
  online_ = true;
  sendWorkerEvent("worker-online");
  scheduleHeartbeat();
}

void EventDispatcher::offline() {
  if (heartbeat_timer_ != 0) dispatcher_.cancel(heartbeat_timer_);
  heartbeat_timer_ = 0;
  flushTaskEvents();
  if (options_.worker_events && online_) sendWorkerEvent("worker-offline");
  online_ = false;
}

// Celery's `heartbeat` command sends its extra heartbeat with freq=5, whatever the
// worker's interval; receivers read it as they read Celery's.
void EventDispatcher::heartbeatNow() {
  sendWorkerEvent("worker-heartbeat", std::chrono::seconds(5));
}

void EventDispatcher::scheduleHeartbeat() {
  heartbeat_timer_ = dispatcher_.schedule(options_.heartbeat_interval, [this] {
    heartbeat_timer_ = 0;
    sendWorkerEvent("worker-heartbeat");
    scheduleHeartbeat();
  });
}

void EventDispatcher::sendWorkerEvent(const std::string& type,
                                      std::optional<std::chrono::milliseconds> freq) {
  celery::WorkerStatus status;
  status.freq_s = std::chrono::duration<double>(freq.value_or(options_.heartbeat_interval)).count();
  status.active = ports_.active ? ports_.active() : 0;
  status.processed = ports_.processed ? ports_.processed() : 0;
  double load[3] = {0, 0, 0};
  // Raw: workerEvent() rounds as Celery does (rounding twice can round up again).
  if (getloadavg(load, 3) == 3) status.loadavg = {load[0], load[1], load[2]};
  status.sw_ver = CELERIAC_VERSION;
  const celery::WorkerEvent kind = type == "worker-online"    ? celery::WorkerEvent::kOnline
                                   : type == "worker-offline" ? celery::WorkerEvent::kOffline
                                                              : celery::WorkerEvent::kHeartbeat;
  send(celery::eventRoutingKey(type), celery::workerEvent(commonFields(), kind, status), 1);
}

void EventDispatcher::queueTaskEvent(const std::string& event) {
  batch_ += batch_.empty() ? "[" : ",";
  batch_ += event;
  ++batch_events_;
  if (flush_posted_) return;
  flush_posted_ = true;
  // Once per loop turn: every event of this turn goes out in one message.
  dispatcher_.post(lifetime_.guard([this] {
    flush_posted_ = false;
    flushTaskEvents();
  }));
}

void EventDispatcher::flushTaskEvents() {
  if (batch_.empty()) return;
  std::string body = std::move(batch_);
  body += "]";
  batch_.clear();
  const std::size_t n = batch_events_;
  batch_events_ = 0;
  send("task.multi", std::move(body), n);
}

bool EventDispatcher::send(const std::string& routing_key, std::string body, std::size_t events) {
  amqp::OutgoingMessage out;
  out.exchange = "celeryev";
  out.routing_key = routing_key;
  out.persistent = false;
  out.priority = 0;
  out.headers = nlohmann::json{{"hostname", options_.hostname}};
  out.body = std::move(body);
  if (ports_.publish && ports_.publish(std::move(out))) {
    sent_ += events;
    return true;
  }
  dropped_ += events;
  return false;
}

void EventDispatcher::received(const celery::TaskMessage& task) {
  if (!options_.task_events) return;
  const celery::EventCommon common = commonFields();
  queueTaskEvent(celery::taskReceivedEvent(common, task));
}

void EventDispatcher::started(const celery::TaskMessage& task) {
  if (!options_.task_events) return;
  const celery::EventCommon common = commonFields();
  queueTaskEvent(celery::taskStartedEvent(common, task.id));
}

void EventDispatcher::succeeded(const celery::TaskMessage& task, const nlohmann::json& result,
                                double runtime_s) {
  if (!options_.task_events) return;
  const celery::EventCommon common = commonFields();
  queueTaskEvent(celery::taskSucceededEvent(common, task.id, result,
                                            std::chrono::duration<double>(runtime_s)));
}

void EventDispatcher::failed(const celery::TaskMessage& task, const celery::ExceptionInfo& error) {
  if (!options_.task_events) return;
  const celery::EventCommon common = commonFields();
  queueTaskEvent(celery::taskFailedEvent(common, task.id, exceptionRepr(error), error.traceback));
}

void EventDispatcher::retried(const celery::TaskMessage& task, const celery::ExceptionInfo& error) {
  if (!options_.task_events) return;
  const celery::EventCommon common = commonFields();
  queueTaskEvent(celery::taskRetriedEvent(common, task.id, exceptionRepr(error), error.traceback));
}

void EventDispatcher::rejected(const celery::TaskMessage& task, bool requeue) {
  if (!options_.task_events) return;
  const celery::EventCommon common = commonFields();
  queueTaskEvent(celery::taskRejectedEvent(common, task.id, requeue));
}

void EventDispatcher::revoked(const celery::TaskMessage& task, bool terminated, bool expired) {
  if (!options_.task_events) return;
  const celery::EventCommon common = commonFields();
  // Celery reports the signal a terminated task's process got; ours got SIGTERM's
  // equivalent (its work was cancelled).
  queueTaskEvent(celery::taskRevokedEvent(
      common, task.id, terminated, terminated ? std::optional<int>(15) : std::nullopt, expired));
}

}  // namespace celeriac::worker::app
