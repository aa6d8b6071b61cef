#pragma once
// FailureClass: what one attempt's outcome was, as results, traces and attempt records
// report it (the table of what each class means for retries, the breaker and the key is
// in the balancer's providers/failure_class.h, which classifies responses).
//
// For: users of the API reading a CallFailure, a TraceEntry or an AttemptRecord (metrics
// labels, transient-or-not decisions). Plain values.

#include <string_view>

namespace celeriac::balancer {

enum class FailureClass {
  kNone,
  kCallerError,
  kKeyInvalid,
  kRateLimited,
  kOverloaded,
  kServerError,
  kTimeout,
  kConnection,
  kMalformed,
  kCancelled,
};

inline constexpr int kFailureClassCount = 10;

[[nodiscard]] std::string_view toString(FailureClass failure);

}  // namespace celeriac::balancer
