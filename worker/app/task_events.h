#pragma once
// TaskEventSink: what the TaskPipeline tells about each task as it goes, for Celery's
// task-* events. The pipeline calls it on the loop, in Celery's order
// (received, started, then succeeded | failed | retried; a task refused, expired or
// revoked on arrival only gets rejected or revoked). The implementation decides whether
// events are on (-E, enable_events) and must return at once: it never does I/O in
// the call, so the task path never waits for an event.
//
// Every call names the task by its TaskMessage, so a listener can label what it counts
// by task name and queue (metrics). For a message refused before it could be decoded,
// or naming a task that is not registered, rejected() gets a TaskMessage carrying only
// the id and the routing key (the task name stays empty: a name nobody registered is
// not a label value).

#include <string>

#include <nlohmann/json.hpp>

#include "worker/celery/exception_info.h"
#include "worker/celery/task_message.h"

namespace celeriac::worker::app {

class TaskEventSink {
 public:
  virtual ~TaskEventSink() = default;
  virtual void received(const celery::TaskMessage& task) = 0;
  virtual void started(const celery::TaskMessage& task) = 0;
  virtual void succeeded(const celery::TaskMessage& task, const nlohmann::json& result,
                         double runtime_s) = 0;
  virtual void failed(const celery::TaskMessage& task, const celery::ExceptionInfo& error) = 0;
  virtual void retried(const celery::TaskMessage& task, const celery::ExceptionInfo& error) = 0;
  virtual void rejected(const celery::TaskMessage& task, bool requeue) = 0;
  // `terminated`: ended while running (revoke --terminate); `expired`: its expires passed.
  virtual void revoked(const celery::TaskMessage& task, bool terminated, bool expired) = 0;
};

}  // namespace celeriac::worker::app
