#pragma once
// ResultWriter: how every part of the pipeline stores a task's result document
// (`celery-task-meta-<id>`, through PipelinePorts::store: SETEX and PUBLISH), counting
// the writes in flight, and what goes into a record when result_extended is on.
//
// What for: one place for "store, then continue once it is durable": an ack, a reject,
// a publish waits for its write (at-least-once). After every write it also calls
// `after_write` (the pipeline's pump: a store that was not accepting writes may have
// been the reason nothing started).
// What not: no rendering decisions (worker/celery/result_document.h builds records) and
// no Redis of its own.
// Ownership: borrows the Context. Loop thread only.

#include <functional>
#include <string>

#include "worker/app/pipeline/context.h"
#include "worker/celery/result_document.h"
#include "worker/celery/task_message.h"

namespace celeriac::worker::app::pipeline {

class ResultWriter {
 public:
  ResultWriter(Context context, std::function<void()> after_write);

  // Stores `document` as task `task_id`'s result; `then` (may be empty) runs once it is
  // durably in Redis.
  void store(const std::string& task_id, std::string document, std::function<void()> then);
  // Celery's result_extended fields (name, args, kwargs, worker, retries, queue) when
  // the worker runs with result_extended.
  void extend(celery::ResultRecord& record, const celery::TaskMessage& message) const;

 private:
  Context context_;
  std::function<void()> after_write_;
};

}  // namespace celeriac::worker::app::pipeline
