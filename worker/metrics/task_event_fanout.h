#pragma once
// TaskEventFanout: one TaskEventSink that forwards every call to several (Celery's
// events and the Prometheus metrics), in the order they were added, so the pipeline
// keeps its single `events` pointer. Borrows the sinks; they must outlive it.
// Loop thread only, like every sink.

#include <vector>

#include "worker/app/task_events.h"

namespace celeriac::worker::metrics {

class TaskEventFanout final : public app::TaskEventSink {
 public:
  void add(app::TaskEventSink* sink) {
    if (sink != nullptr) sinks_.push_back(sink);
  }

  void received(const celery::TaskMessage& task) override {
    for (auto* s : sinks_) s->received(task);
  }
  void started(const celery::TaskMessage& task) override {
    for (auto* s : sinks_) s->started(task);
  }
  void succeeded(const celery::TaskMessage& task, const nlohmann::json& result,
                 double runtime_s) override {
    for (auto* s : sinks_) s->succeeded(task, result, runtime_s);
  }
  void failed(const celery::TaskMessage& task, const celery::ExceptionInfo& error) override {
    for (auto* s : sinks_) s->failed(task, error);
  }
  void retried(const celery::TaskMessage& task, const celery::ExceptionInfo& error) override {
    for (auto* s : sinks_) s->retried(task, error);
  }
  void rejected(const celery::TaskMessage& task, bool requeue) override {
    for (auto* s : sinks_) s->rejected(task, requeue);
  }
  void revoked(const celery::TaskMessage& task, bool terminated, bool expired) override {
    for (auto* s : sinks_) s->revoked(task, terminated, expired);
  }

 private:
  std::vector<app::TaskEventSink*> sinks_;
};

}  // namespace celeriac::worker::metrics
