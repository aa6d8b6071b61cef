#pragma once
// Job: one task message the worker holds, from its delivery until it is settled.
//
// What for: the record every part of the pipeline passes along (held for its ETA,
// waiting in the ready queue or for a rate limit's token, counted for poison detection,
// running, settling). What not: no behaviour; the parts decide.
// Ownership: a Job is owned by exactly one place at a time (a std::unique_ptr in one of
// the TaskPipeline's tables or a part's); it owns its delivery, its decoded message and
// the task's run while it runs. `entry` points into the TaskRegistry, which outlives it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/dispatcher.h"
#include "worker/amqp/amqp_types.h"
#include "worker/celery/task_message.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::app::pipeline {

using JobId = std::uint64_t;

struct Job {
  JobId id = 0;
  amqp::Delivery delivery;
  celery::TaskMessage message;
  const tasks::TaskRegistry::Entry* entry = nullptr;
  std::unique_ptr<tasks::TaskRun> run;
  common::TimerId soft_limit_timer = 0;
  common::TimerId hard_limit_timer = 0;
  common::SteadyTime started{};
  std::chrono::system_clock::time_point wall_started{};  // for `inspect active`
  bool acks_late = true;
  bool ignore_result = false;
  // A redelivered message whose start was counted in Redis (poison detection); its
  // count is forgotten once it finishes.
  bool start_counted = false;
  // A large body waits in one form only, the raw message (parking and retries
  // republish it as it came); its arguments are decoded again when it starts.
  bool decode_at_start = false;
  // While a long run waits (an LLM call), the message's AMQP headers are kept here as
  // CBOR and delivery.message.headers is null; empty otherwise (job_packing.h).
  std::string packed_headers;
  // While a long run waits, `message` keeps only what is read meanwhile (id, task, time
  // limits and other scalars); it is decoded again from the delivery before settlement.
  bool message_packed = false;
};

}  // namespace celeriac::worker::app::pipeline
