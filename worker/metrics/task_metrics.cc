#include "worker/metrics/task_metrics.h"

namespace celeriac::worker::metrics {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// prometheus_client's Histogram.DEFAULT_BUCKETS, which celery-exporter uses.
const prometheus::Histogram::BucketBoundaries kRuntimeBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0};

const std::string& queueOf(const celery::TaskMessage& task) {
  // Celery labels a task without routing information "celery" (its default queue).
  static const std::string kDefault = "celery";
  return task.routing_key.empty() ? kDefault : task.routing_key;
}

}  // namespace

std::string TaskMetrics::hostLabel(const std::string& nodename) {
  const auto at = nodename.find('@');
  return at == std::string::npos ? nodename : nodename.substr(at + 1);
}

TaskMetrics::TaskMetrics(prometheus::Registry& registry, const std::string& nodename)
    : hostname_(hostLabel(nodename)),
      failed_(BuildCounter()
                  .Name("celery_task_failed_total")
                  .Help("Sent if the execution of the task failed.")
                  .Register(registry)),
      runtime_(BuildHistogram()
                   .Name("celery_task_runtime_seconds")
                   .Help("Histogram of task runtime measurements.")
                   .Register(registry)),
      up_(BuildGauge()
              .Name("celery_worker_up")
              .Help("Indicates if a worker has recently sent a heartbeat.")
              .Register(registry)
              .Add({{"hostname", hostname_}})),
      active_(BuildGauge()
                  .Name("celery_worker_tasks_active")
                  .Help("The number of tasks the worker is currently processing")
                  .Register(registry)
                  .Add({{"hostname", hostname_}})),
      prefetch_(BuildGauge()
                    .Name("celeriac_prefetch")
                    .Help("The basic.qos prefetch count in force.")
                    .Register(registry)
                    .Add({})),
      in_flight_(BuildGauge()
                     .Name("celeriac_tasks_in_flight")
                     .Help("Tasks this worker holds: running, reserved, or held for their eta.")
                     .Register(registry)
                     .Add({})),
      parked_eta_(BuildCounter()
                      .Name("celeriac_tasks_parked_total")
                      .Help("Tasks parked in a RabbitMQ delay tier, by reason.")
                      .Register(registry)
                      .Add({{"reason", "eta"}})),
      parked_unavailable_(BuildCounter()
                              .Name("celeriac_tasks_parked_total")
                              .Help("Tasks parked in a RabbitMQ delay tier, by reason.")
                              .Register(registry)
                              .Add({{"reason", "all_models_unavailable"}})) {
  const char* names[kKinds][2] = {
      {"celery_task_received_total", "Sent when the worker receives a task."},
      {"celery_task_started_total", "Sent just before the worker executes the task."},
      {"celery_task_succeeded_total", "Sent if the task executed successfully."},
      {"celery_task_retried_total", "Sent if the task failed, but will be retried in the future."},
      {"celery_task_rejected_total",
       "The task was rejected by the worker, possibly to be re-queued or moved to a dead "
       "letter queue."},
      {"celery_task_revoked_total", "Sent if the task has been revoked."},
  };
  for (int k = 0; k < kKinds; ++k) {
    families_[k] = &BuildCounter().Name(names[k][0]).Help(names[k][1]).Register(registry);
  }
  up_.Set(1);
}

TaskMetrics::Series& TaskMetrics::series(const celery::TaskMessage& task) {
  const std::string& queue = queueOf(task);
  auto key = std::make_pair(task.task, queue);
  auto it = series_.find(key);
  if (it != series_.end()) return it->second;
  const prometheus::Labels labels{{"name", task.task}, {"hostname", hostname_},
                                  {"queue_name", queue}};
  Series s;
  for (int k = 0; k < kKinds; ++k) s.counters[k] = &families_[k]->Add(labels);
  s.runtime = &runtime_.Add(labels, kRuntimeBuckets);
  return series_.emplace(std::move(key), s).first->second;
}

prometheus::Counter& TaskMetrics::failedCounter(const celery::TaskMessage& task,
                                                const std::string& exc) {
  const std::string& queue = queueOf(task);
  auto key = std::make_tuple(task.task, queue, exc);
  auto it = failed_by_.find(key);
  if (it != failed_by_.end()) return *it->second;
  prometheus::Counter& c = failed_.Add(
      {{"name", task.task}, {"hostname", hostname_}, {"exception", exc}, {"queue_name", queue}});
  failed_by_.emplace(std::move(key), &c);
  return c;
}

void TaskMetrics::refresh(const WorkerSnapshot& s) {
  up_.Set(s.up ? 1 : 0);
  active_.Set(static_cast<double>(s.active));
  in_flight_.Set(static_cast<double>(s.in_flight));
  prefetch_.Set(static_cast<double>(s.prefetch));
  // The pipeline's counters are cumulative: add what is new since the last refresh.
  if (s.parked_eta > parked_eta_seen_) {
    parked_eta_.Increment(static_cast<double>(s.parked_eta - parked_eta_seen_));
    parked_eta_seen_ = s.parked_eta;
  }
  if (s.parked_unavailable > parked_unavailable_seen_) {
    parked_unavailable_.Increment(
        static_cast<double>(s.parked_unavailable - parked_unavailable_seen_));
    parked_unavailable_seen_ = s.parked_unavailable;
  }
}

void TaskMetrics::received(const celery::TaskMessage& task) {
  series(task).counters[kReceived]->Increment();
}

void TaskMetrics::started(const celery::TaskMessage& task) {
  series(task).counters[kStarted]->Increment();
}

void TaskMetrics::succeeded(const celery::TaskMessage& task, const nlohmann::json&,
                            double runtime_s) {
  Series& s = series(task);
  s.counters[kSucceeded]->Increment();
  s.runtime->Observe(runtime_s);
}

void TaskMetrics::failed(const celery::TaskMessage& task, const celery::ExceptionInfo& error) {
  series(task);  // the other counters of the set exist from the first event on
  // The class name only: celeriac's own exception types, or a task's declared ones.
  failedCounter(task, error.type.empty() ? "UnknownException" : error.type).Increment();
}

void TaskMetrics::retried(const celery::TaskMessage& task, const celery::ExceptionInfo&) {
  series(task).counters[kRetried]->Increment();
}

void TaskMetrics::rejected(const celery::TaskMessage& task, bool) {
  series(task).counters[kRejected]->Increment();
}

void TaskMetrics::revoked(const celery::TaskMessage& task, bool, bool) {
  series(task).counters[kRevoked]->Increment();
}

}  // namespace celeriac::worker::metrics
