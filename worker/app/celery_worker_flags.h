#pragma once
// Celery's own `celery worker` flags that operators already have in their argument lines
// (`-E --without-gossip --without-mingle -O fair ...`), so such a line starts celeriac
// instead of failing on an unknown flag.
//
// Flags with a meaning here set WorkerConfig fields (-E, --without-heartbeat,
// --heartbeat-interval, --pidfile, --logfile, --statedb, --time-limit,
// --soft-time-limit, --autoscale). Flags that mean nothing for one event loop
// (-A, -O, -P, --max-tasks-per-child, --max-memory-per-child, --without-gossip,
// --without-mingle) are accepted and leave one notice each, which the worker logs at
// start. Anything else is still CLI11's clear "unknown option" error.

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "common/result.h"
#include "worker/app/worker_config.h"

namespace celeriac::worker::app {

// What CLI11 parsed, before it is checked and applied.
struct CeleryOperatorFlags {
  bool without_gossip = false;
  bool without_mingle = false;
  bool without_heartbeat = false;
  long heartbeat_interval_s = 2;
  std::string optimization;  // -O
  std::string pool;          // -P
  std::string app;           // -A
  std::string autoscale;     // MAX,MIN
  std::optional<long> max_tasks_per_child;
  std::optional<long> max_memory_per_child;
  std::optional<double> time_limit;
  std::optional<double> soft_time_limit;
};

// Registers the flags on `cli`; -E, --pidfile, --logfile and --statedb go straight into
// `config`, the others into `flags`.
void addCeleryOperatorFlags(CLI::App& cli, WorkerConfig& config, CeleryOperatorFlags& flags);

// Checks and applies `flags` after parsing; an Error (naming the flag) on a bad value.
common::Result<void> applyCeleryOperatorFlags(const CeleryOperatorFlags& flags,
                                              WorkerConfig& config);

}  // namespace celeriac::worker::app
