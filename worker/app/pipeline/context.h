#pragma once
// Context: what every part of the TaskPipeline shares (the loop, the ports, the worker's
// options and counters, and the counts of writes and publishes in flight that shutdown
// waits for).
// What not: no behaviour. Ownership: references into the TaskPipeline, which owns the
// values and every part; a part keeps its Context for its whole life.

#include <cstddef>

#include "common/dispatcher.h"
#include "worker/app/pipeline/options.h"
#include "worker/app/pipeline/ports.h"

namespace celeriac::worker::app::pipeline {

// Work started but not finished, which a graceful shutdown waits for.
struct InFlight {
  std::size_t storing = 0;     // result writes not yet durable
  std::size_t publishing = 0;  // parks, republishes and follow-up batches not yet confirmed
};

struct Context {
  common::Dispatcher& dispatcher;
  const PipelinePorts& ports;
  const PipelineOptions& options;
  PipelineCounters& counters;
  InFlight& in_flight;
};

}  // namespace celeriac::worker::app::pipeline
