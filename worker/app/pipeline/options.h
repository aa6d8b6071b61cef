#pragma once
// PipelineOptions: how the TaskPipeline treats tasks (the worker's flags, as
// worker_app.cc sets them); PipelineCounters: what it counts for `inspect stats` and
// the metrics.
// What not: per-task options (the TaskRegistry's TaskOptions) and the remote control's
// run-time settings (rate and time limits, kept by the pipeline).
// Ownership: plain values.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/worker_defaults.h"
#include "worker/amqp/topology.h"

namespace celeriac::worker::app {

struct PipelineOptions {
  std::size_t concurrency = common::kDefaultConcurrency;
  // concurrency x multiplier, the base basic.qos value
  std::uint16_t prefetch = common::kDefaultPrefetch;
  std::string hostname = "celeriac@localhost";
  bool acks_late = true;         // default for tasks that do not say
  bool track_started = false;    // default for tasks that do not say
  bool result_extended = false;  // Celery's result_extended: name/args/kwargs/worker/queue
  int pid = 0;                   // reported in STARTED documents
  // ETAs further away than this are parked in a delay tier instead of being held in
  // memory, so prefetch never fills with sleeping tasks.
  std::chrono::milliseconds eta_hold_limit{10'000};
  std::vector<amqp::DelayTier> delay_tiers;  // shortest first; empty: never park
  // A task parked because every model was down fails with AllModelsUnavailable once
  // it has been parked this long.
  std::chrono::milliseconds max_parked{3'600'000};
  // While every model is down, prefetch drops to this (other replicas, with other
  // keys, get the work) until the balancer's earliest retry time.
  std::uint16_t backpressure_prefetch = 1;
  // Queue for a task name when a chain step or callback signature names none (the
  // LLM tasks' queues); anything else goes to `default_queue`, as Celery routes it.
  std::map<std::string, std::string> task_queues;
  // Celery's task_routes as (glob pattern, queue), consulted after task_queues: the
  // worker that runs a step routes the next one, so it needs the Python app's routes.
  std::vector<std::pair<std::string, std::string>> task_routes;
  std::string default_queue = "celery";
  // A body larger than this is refused (FAILURE InvalidTaskError, reject) before it is
  // decoded (--max-message-size).
  std::size_t max_message_size = std::size_t{16} << 20;
  // A message redelivered this many times after runs that never finished (the worker
  // died under it) is not run again: FAILURE WorkerLostError, rejected without requeue
  // (dead-lettered when the queue has a DLX). 0: never (--max-task-crashes).
  int max_task_crashes = 3;
  // Time limits for tasks whose message and task options set none (--soft-time-limit,
  // --time-limit), in seconds.
  std::optional<double> default_soft_time_limit;
  std::optional<double> default_hard_time_limit;
};

struct PipelineCounters {
  std::uint64_t received = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::uint64_t rejected = 0;
  std::uint64_t revoked = 0;
  std::uint64_t parked = 0;
  std::uint64_t parked_unavailable = 0;
  std::uint64_t retried = 0;                           // retry messages published (Task.retry)
  std::map<std::string, std::uint64_t> total_by_task;  // `inspect stats` "total"
};

}  // namespace celeriac::worker::app
