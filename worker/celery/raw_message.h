#pragma once
// RawMessage: one AMQP delivery as the AMQP layer hands it to the Celery decoder.
//
// What for: the seam between worker/amqp (rabbitmq-c, owns the frames) and this pure
// library. The AMQP layer copies the envelope into this plain value; nothing here
// points back into rabbitmq-c buffers, so a RawMessage outlives the delivery.
// What not: no decoding happens here; see message_decoder.h.
// Ownership: a plain value type, owned by whoever holds it; no thread affinity.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace celeriac::worker::celery {

struct RawMessage {
  // AMQP basic properties.
  std::string content_type;      // e.g. "application/json"
  std::string content_encoding;  // "utf-8" for json, "binary" for pickle
  // application_headers converted to JSON by the AMQP layer: strings, numbers, bool,
  // null (void), arrays, objects; AMQP timestamps as integer seconds.
  nlohmann::json headers = nlohmann::json::object();
  std::string body;  // raw bytes, possibly compressed (header `compression`)
  std::string correlation_id;
  std::string reply_to;
  std::optional<std::uint8_t> priority;  // absent: apply_async(queue=...) omits it
  // Delivery info.
  std::string exchange;
  std::string routing_key;
  bool redelivered = false;
};

}  // namespace celeriac::worker::celery
