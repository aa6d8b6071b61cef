// TaskPipeline: poison-message detection (see countStartThenRun in task_pipeline.h).
// With late acks, a message whose run kills the process is redelivered to the next
// worker, and the next; the starts of redelivered messages are counted in Redis and the
// message fails with WorkerLostError at --max-task-crashes.
#include "worker/app/pipeline/task_log.h"
#include "worker/app/task_pipeline.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/result_document.h"
#include "worker/celery/result_keys.h"

namespace celeriac::worker::app {

using pipeline::taskLog;

bool TaskPipeline::runningHere(const std::string& task_id) const {
  // A message redelivered because this worker's connection dropped while it ran here:
  // no worker died under it, so that start is not counted (a flapping link would
  // otherwise make a healthy long task look like poison).
  for (const auto& [id, job] : active_) {
    if (job->message.id == task_id) return true;
  }
  for (const auto& [id, job] : counting_) {
    if (job->message.id == task_id) return true;
  }
  return false;
}

void TaskPipeline::countStartThenRun(std::unique_ptr<Job> job) {
  // With late acks, a message whose run kills the process comes back to the next
  // worker, and the next: count the starts of redelivered messages in Redis (shared by
  // every replica) and stop after max_task_crashes. A first delivery costs nothing.
  const JobId id = job->id;
  const std::string key = celery::redeliveredStartsKey(job->message.id);
  ++running_;  // the count holds a slot, so concurrency stays bounded
  counting_.emplace(id, std::move(job));
  ports_.count_start(key, [this, id](long long starts) {
    auto it = counting_.find(id);
    if (it == counting_.end()) return;  // channel lost meanwhile
    std::unique_ptr<Job> counted = std::move(it->second);
    counting_.erase(it);
    --running_;
    counted->start_counted = true;
    if (!starting_) return;  // shutting down: stays unacked for another worker
    if (starts >= maxCrashesFor(*counted)) {
      failPoison(std::move(counted), starts);
    } else {
      start(std::move(counted));
    }
    pump();
  });
}

void TaskPipeline::failPoison(std::unique_ptr<Job> job, long long starts) {
  ++counters_.failed;
  const celery::TaskMessage& m = job->message;
  const std::string reason = "Worker exited prematurely: task " + m.task + " was delivered " +
                             std::to_string(starts + 1) +
                             " times and no run finished (poison message, " +
                             (job->entry->options.reject_on_worker_lost
                                  ? std::string("reject_on_worker_lost false")
                                  : "--max-task-crashes " + std::to_string(maxCrashesFor(*job))) +
                             "); not run again";
  taskLog()->error(
      "poison task={} task_id={} starts={}: failed with WorkerLostError and "
      "rejected without requeue",
      m.task, m.id, starts);
  celery::ResultRecord record =
      celery::failureRecord(m, celery::workerLost(reason), dispatcher_.clock().wallNow());
  writer_.extend(record, m);
  const amqp::DeliveryRef ref = job->delivery.ref;
  const std::string key = celery::redeliveredStartsKey(m.id);
  writer_.store(m.id, celery::renderResultDocument(record), [this, ref, key] {
    ports_.reject(ref, false);
    if (ports_.forget_starts) ports_.forget_starts(key);
  });
}

}  // namespace celeriac::worker::app
