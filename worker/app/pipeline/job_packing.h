#pragma once
// Job packing: what a job keeps while its task waits long, kept small.
//
// What for: an LLM call waits seconds, and one worker holds thousands of them, so what
// each waiting job keeps decides a replica's memory. The message's AMQP header table,
// as the AMQP layer hands it over, is a tree of about 16 small blocks (about 1.7 KB for
// Celery's headers) that nothing reads while the task runs; packed as CBOR it is one
// block of about 0.4 KB. Settlement (park, retry, republish as it came) reads the
// headers again, so TaskPipeline::takeActive() unpacks them before anything settles.
// What not: the body and the decoded message stay as they are: inspect, events and the
// result read those while the task runs.
// Ownership: functions on a Job its caller owns; loop thread, like the Job.

#include "worker/app/pipeline/job.h"

namespace celeriac::worker::app::pipeline {

// Packs the job's headers into Job::packed_headers and leaves
// delivery.message.headers null. Does nothing when they are already packed, or are not
// a non-empty object.
void packHeaders(Job& job);

// Restores the headers exactly as they were before packHeaders() (same keys, values
// and value kinds; an integer may come back unsigned, which is the same AMQP field on
// publish). Does nothing unless they are packed.
void unpackHeaders(Job& job);

}  // namespace celeriac::worker::app::pipeline
