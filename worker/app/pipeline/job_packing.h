#pragma once
// Job packing: what a job keeps while its task waits long, kept small.
//
// What for: an LLM call waits seconds, and one worker holds thousands of them, so what
// each waiting job keeps decides a replica's memory. Two parts of a job are read by
// nobody while its task waits:
//   - the message's AMQP header table, as the AMQP layer hands it over a tree of about
//     16 small blocks (about 1.7 KB for Celery's headers); packed as CBOR it is one
//     block of about 0.4 KB;
//   - most of the decoded message (arguments, their reprs, ids of the workflow, canvas,
//     stamps, envelope strings): about 0.7 KB a job, and all of it is in the raw
//     delivery, which the job keeps anyway (parking republishes it as it came).
// TaskPipeline::takeActive() unpacks both before anything settles (park, retry, result,
// republish read them). `celery inspect active` and `query_task` decode a packed job's
// message on demand.
// What not: quick runs (echo) are never packed, so a drain pays nothing for this.
// Ownership: functions on a Job its caller owns; loop thread, like the Job.

#include "worker/app/pipeline/job.h"

namespace celeriac::worker::app::pipeline {

// Packs both parts (below) once the task's run has started and says it waits long.
void packJob(Job& job);
// Restores both parts exactly as they were before packJob(). Does nothing to a part
// that is not packed.
void unpackJob(Job& job);

// The job's message as decoded on arrival, whether packed or not (a copy; for a packed
// job a copy of its body too, and a decode: for inspection, not for every job).
celery::TaskMessage wholeMessage(const Job& job);

// Packs the job's headers into Job::packed_headers and leaves
// delivery.message.headers null. Does nothing when they are already packed, or are not
// a non-empty object.
void packHeaders(Job& job);

// Restores the headers exactly as they were before packHeaders() (same keys, values
// and value kinds; an integer may come back unsigned, which is the same AMQP field on
// publish). Does nothing unless they are packed.
void unpackHeaders(Job& job);

// Keeps of Job::message only what is read while the task waits: the id (revoke
// --terminate, poison detection, logs), the task name and time limits (a time limit
// hit), and the scalar fields, which cost nothing; sets Job::message_packed.
void packMessage(Job& job);

// Decodes the message again from the delivery, whose headers must be unpacked. Does
// nothing unless the message is packed.
void unpackMessage(Job& job);

}  // namespace celeriac::worker::app::pipeline
