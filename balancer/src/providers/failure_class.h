#pragma once
// Classifying one HTTP outcome into a FailureClass (the enum is public, in
// balancer/failure_class.h): what it means for the call, the key and the endpoint.
//
// For: classifying a response or transport error ONCE, where it is born, so that every
// later decision (retry? next candidate? feed the breaker? pause the key?) reads the
// class instead of re-inspecting status codes. Not for: parsing bodies (codecs).
// Pure functions over values.
//
//   class            examples             retry elsewhere  breaker  key effect
//   kNone            2xx                  -                success  -
//   kCallerError     400 404 413 422      no (fail task)   -        -
//   kKeyInvalid      401 403              yes (other key)  -        key taken out
//   kRateLimited     429                  yes              -        pause (key, model)
//   kOverloaded      503 529              yes              failure  -
//   kServerError     500 502 504 5xx      yes              failure  -
//   kTimeout         connect/total        yes              failure  -
//   kConnection      reset, refused, DNS  yes              failure  -
//   kMalformed       2xx we cannot parse  yes              failure  -
//   kCancelled       caller cancelled     no               -        -

#include <string_view>

#include "balancer/failure_class.h"
#include "balancer/http_transport.h"

namespace celeriac::balancer {

// Classifies the transport outcome and HTTP status; a 2xx is kNone (the codec may still
// find the body malformed and report kMalformed itself).
[[nodiscard]] FailureClass classify(const HttpResponse& response);

// Should the call try another candidate after this failure?
[[nodiscard]] bool isRetryable(FailureClass failure);

// Does this failure count against the endpoint's circuit breaker?
[[nodiscard]] bool countsAgainstEndpoint(FailureClass failure);

}  // namespace celeriac::balancer
