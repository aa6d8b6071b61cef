#pragma once
// TaskMetrics: the worker's task and worker metrics in a prometheus-cpp registry,
// under celery-exporter's names and labels so dashboards built for it keep working:
//
//   celery_task_{received,started,succeeded,failed,retried,rejected,revoked}_total
//       {name, hostname, queue_name}; failed also {exception} (the exception's class
//       name), as celery-exporter labels it. Every counter of a label set is created
//       (at 0) the first time the set is seen, as celery-exporter does.
//   celery_task_runtime_seconds{name, hostname, queue_name}  histogram, on success,
//       with prometheus_client's default buckets (celery-exporter's default)
//   celery_worker_up{hostname}, celery_worker_tasks_active{hostname}
//   celeriac_tasks_parked_total{reason="eta"|"all_models_unavailable"}
//   celeriac_prefetch (the basic.qos in force), celeriac_tasks_in_flight (tasks the
//       worker holds: running, reserved, held for their eta)
//
// Labels: `hostname` is the host part of the node name (celery@host -> host), as
// celery-exporter's get_hostname; `name` is the registered task name; `queue_name` the
// routing key the message was delivered with (Celery's default routing: the queue).
// No task id, argument or message text ever becomes a label.
//
// Fed on the loop: by the TaskPipeline through TaskEventSink, and by refresh() from a
// 1 s timer. prometheus-cpp's metrics are thread-safe, so the HTTP server's threads
// may collect the registry while the loop updates it.

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "worker/app/task_events.h"

namespace celeriac::worker::metrics {

class TaskMetrics final : public app::TaskEventSink {
 public:
  // What the 1 s refresh reads from the pipeline.
  struct WorkerSnapshot {
    bool up = true;
    std::size_t active = 0;     // running now
    std::size_t in_flight = 0;  // running + reserved + held
    std::uint16_t prefetch = 0;
    std::uint64_t parked_eta = 0;          // PipelineCounters::parked (cumulative)
    std::uint64_t parked_unavailable = 0;  // PipelineCounters::parked_unavailable
  };

  TaskMetrics(prometheus::Registry& registry, const std::string& nodename);

  // celery@host -> host; a name without '@' is returned whole (kombu's nodesplit).
  [[nodiscard]] static std::string hostLabel(const std::string& nodename);

  void refresh(const WorkerSnapshot& snapshot);

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
  enum Kind { kReceived, kStarted, kSucceeded, kRetried, kRejected, kRevoked, kKinds };
  struct Series {  // the counters of one (name, queue_name)
    prometheus::Counter* counters[kKinds] = {};
    prometheus::Histogram* runtime = nullptr;
  };
  Series& series(const celery::TaskMessage& task);
  prometheus::Counter& failedCounter(const celery::TaskMessage& task, const std::string& exc);

  std::string hostname_;
  prometheus::Family<prometheus::Counter>* families_[kKinds] = {};
  prometheus::Family<prometheus::Counter>& failed_;
  prometheus::Family<prometheus::Histogram>& runtime_;
  prometheus::Gauge& up_;
  prometheus::Gauge& active_;
  prometheus::Gauge& prefetch_;
  prometheus::Gauge& in_flight_;
  prometheus::Counter& parked_eta_;
  prometheus::Counter& parked_unavailable_;
  std::uint64_t parked_eta_seen_ = 0;
  std::uint64_t parked_unavailable_seen_ = 0;
  // Looked up once per label set, not per event (prometheus-cpp hashes the label map).
  std::map<std::pair<std::string, std::string>, Series> series_;
  std::map<std::tuple<std::string, std::string, std::string>, prometheus::Counter*> failed_by_;
};

}  // namespace celeriac::worker::metrics
