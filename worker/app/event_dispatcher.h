#pragma once
// EventDispatcher: Celery's events from this worker, for `celery events`,
// Flower, celery-exporter and celery.events.State.
//
//  * Worker events: worker-online when the broker connection first opens,
//    worker-heartbeat every --heartbeat-interval (2 s), worker-offline at shutdown;
//    sent unless --without-heartbeat, with or without -E, as Celery does.
//  * Task events (TaskEventSink): only while task events are on (-E, or the
//    enable_events command until disable_events).
//
// Events never slow the task path: a task event is a JSON text appended to this
// turn's batch; the batch goes out once per loop turn as one `task.multi` message
// (a list body, as a Python worker with an event loop sends it) on the broker's
// transient channel, unconfirmed. When the broker pushes back (publishTransient
// refuses: not connected, or its backlog is full) the batch is dropped and counted
// (dropped()), never queued. Every event takes the next Lamport clock value.
// Loop thread only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/dispatcher.h"
#include "common/lifetime_token.h"
#include "worker/amqp/amqp_types.h"
#include "worker/app/task_events.h"
#include "worker/celery/event_body.h"
#include "worker/celery/lamport_clock.h"

namespace celeriac::worker::app {

class EventDispatcher final : public TaskEventSink {
 public:
  struct Options {
    std::string hostname;  // nodename
    int pid = 0;
    bool task_events = false;
    bool worker_events = true;  // false: --without-heartbeat
    std::chrono::milliseconds heartbeat_interval{2000};
  };
  struct Ports {
    // AmqpConnection::publishTransient: false when the message was dropped.
    std::function<bool(amqp::OutgoingMessage)> publish;
    // Tasks running now and tasks finished since start (worker-heartbeat fields).
    std::function<std::size_t()> active;
    std::function<std::uint64_t()> processed;
  };

  EventDispatcher(common::Dispatcher& dispatcher, celery::LamportClock& clock, Options options,
                  Ports ports);
  ~EventDispatcher() override;
  EventDispatcher(const EventDispatcher&) = delete;
  EventDispatcher& operator=(const EventDispatcher&) = delete;

  // The broker connection opened: worker-online the first time, heartbeats from then.
  void connected();
  // Shutdown: worker-offline, heartbeats stop.
  void offline();
  // The `heartbeat` control command: one worker-heartbeat now, with freq 5 as Celery sends it.
  void heartbeatNow();

  // enable_events / disable_events; true if this changed anything.
  bool setTaskEvents(bool on);
  [[nodiscard]] bool taskEvents() const { return options_.task_events; }
  [[nodiscard]] std::uint64_t sent() const { return sent_; }
  [[nodiscard]] std::uint64_t dropped() const { return dropped_; }

  // TaskEventSink
  void received(const celery::TaskMessage& task) override;
  void started(const celery::TaskMessage& task) override;
  void succeeded(const celery::TaskMessage& task, const nlohmann::json& result,
                 double runtime_s) override;
  void failed(const celery::TaskMessage& task, const celery::ExceptionInfo& error) override;
  void retried(const celery::TaskMessage& task, const celery::ExceptionInfo& error) override;
  void rejected(const celery::TaskMessage& task, bool requeue) override;
  void revoked(const celery::TaskMessage& task, bool terminated, bool expired) override;

 private:
  // The common fields (hostname, utcoffset, pid, clock, timestamp) of an event now.
  [[nodiscard]] celery::EventCommon commonFields();
  void queueTaskEvent(const std::string& event);
  void flushTaskEvents();
  // `freq`: the event's freq field when not the heartbeat interval.
  void sendWorkerEvent(const std::string& type,
                       std::optional<std::chrono::milliseconds> freq = std::nullopt);
  void scheduleHeartbeat();
  bool send(const std::string& routing_key, std::string body, std::size_t events);

  common::Dispatcher& dispatcher_;
  celery::LamportClock& clock_;
  Options options_;
  Ports ports_;
  // This turn's task events, each already serialised: "[e1,e2" (closed at flush).
  std::string batch_;
  std::size_t batch_events_ = 0;
  // Hours west of UTC; looked up once a minute, not per event (localtime_r per event
  // was a visible part of the cost of -E).
  int utcoffset_hours_ = 0;
  std::chrono::system_clock::time_point utcoffset_until_{};
  bool flush_posted_ = false;
  bool online_ = false;
  common::TimerId heartbeat_timer_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t dropped_ = 0;
  // Guards the posted flush against running after destruction.
  common::LifetimeToken lifetime_;
};

}  // namespace celeriac::worker::app
