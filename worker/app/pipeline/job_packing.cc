#include "worker/app/pipeline/job_packing.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/app/pipeline/task_log.h"
#include "worker/celery/message_decoder.h"

namespace celeriac::worker::app::pipeline {

void packJob(Job& job) {
  packHeaders(job);
  packMessage(job);
}

void unpackJob(Job& job) {
  unpackHeaders(job);  // first: the message is decoded from them
  unpackMessage(job);
}

celery::TaskMessage wholeMessage(const Job& job) {
  if (!job.message_packed) return job.message;
  celery::RawMessage raw = job.delivery.message;  // a copy of the body: inspect only
  if (!job.packed_headers.empty()) raw.headers = nlohmann::json::from_cbor(job.packed_headers);
  celery::DecodeResult decoded = celery::decodeMessage(raw);
  if (!decoded.ok()) return job.message;  // what it kept (see unpackMessage)
  return std::move(*decoded.task);
}

void packHeaders(Job& job) {
  nlohmann::json& headers = job.delivery.message.headers;
  if (!job.packed_headers.empty() || !headers.is_object() || headers.empty()) return;
  // CBOR, not JSON text: a header value may hold bytes that are not UTF-8 (an AMQP
  // byte string), which dump() refuses and CBOR carries as they are.
  const std::vector<std::uint8_t> bytes = nlohmann::json::to_cbor(headers);
  job.packed_headers.assign(bytes.begin(), bytes.end());  // sized exactly, unlike `bytes`
  headers = nullptr;
}

void unpackHeaders(Job& job) {
  if (job.packed_headers.empty()) return;
  job.delivery.message.headers = nlohmann::json::from_cbor(job.packed_headers);
  std::string().swap(job.packed_headers);  // frees the block, not just the length
}

void packMessage(Job& job) {
  if (job.message_packed) return;
  celery::TaskMessage& whole = job.message;
  celery::TaskMessage kept;
  kept.protocol = whole.protocol;
  kept.id = std::move(whole.id);
  kept.task = std::move(whole.task);
  kept.group_index = whole.group_index;
  kept.retries = whole.retries;
  kept.eta = whole.eta;
  kept.expires = whole.expires;
  kept.time_limits = whole.time_limits;
  kept.ignore_result = whole.ignore_result;
  kept.replaced_task_nesting = whole.replaced_task_nesting;
  kept.priority = whole.priority;
  kept.redelivered = whole.redelivered;
  // An empty array or object is a block of its own; null is none.
  kept.args = nullptr;
  kept.kwargs = nullptr;
  kept.custom_headers = nullptr;
  kept.stamps = nullptr;
  // Moved out whole, not assigned over: assigning an empty string to one that holds a
  // heap block keeps the block (libstdc++), so every dropped string would stay.
  const celery::TaskMessage dropped = std::move(whole);
  whole = std::move(kept);
  job.message_packed = true;
}

void unpackMessage(Job& job) {
  if (!job.message_packed) return;
  celery::DecodeResult decoded = celery::decodeMessage(job.delivery.message);
  if (!decoded.ok()) {
    // The same bytes decoded when the message arrived, so only a bug gets here: settle
    // with what was kept rather than lose the task.
    taskLog()->error("task_id={} no longer decodes after its wait ({}); settled with what it kept",
                     job.message.id, decoded.error.message);
  } else {
    job.message = std::move(*decoded.task);
  }
  job.message_packed = false;
}

}  // namespace celeriac::worker::app::pipeline
