#pragma once
// AttemptRecord: what one finished HTTP attempt of a Balancer call was, for whoever
// counts them (the worker's Prometheus metrics). Plain values: labels come from the
// config (endpoint name, model, key alias), never a secret or a provider's text.
//
// Handed to the Balancer's attempt observer on the loop, once per attempt that went
// out, when its response (or transport error) is classified.

#include <chrono>
#include <cstdint>
#include <string>

#include "balancer/failure_class.h"

namespace celeriac::balancer {

struct AttemptRecord {
  std::string endpoint;                        // EndpointConfig::name
  std::string model;                           // the model asked for
  std::string key_alias;                       // empty for a keyless endpoint
  FailureClass outcome = FailureClass::kNone;  // kNone: success
  int http_status = 0;
  std::chrono::microseconds latency{0};  // send to answer
  // Success only (zero otherwise): the provider's usage and its price from `pricing`.
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  double cost_usd = 0;
  // A 429 paused (key, model) for this long (zero: no pause).
  std::chrono::milliseconds pause{0};
  // The balancer's own time on this attempt, on the loop: from the start of the walk
  // that picked it to the hand-over to the transport (pick, admission, encoding), plus
  // classifying and decoding the answer. Waiting (queues, backoff, the provider) is not
  // in it; it is what the balancer adds to a direct HTTP call.
  std::chrono::nanoseconds overhead{0};
};

}  // namespace celeriac::balancer
