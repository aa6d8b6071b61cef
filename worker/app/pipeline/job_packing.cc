#include "worker/app/pipeline/job_packing.h"

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::worker::app::pipeline {

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

}  // namespace celeriac::worker::app::pipeline
