#include "providers/failure_class.h"

namespace celeriac::balancer {

std::string_view toString(FailureClass failure) {
  switch (failure) {
    case FailureClass::kNone:
      return "none";
    case FailureClass::kCallerError:
      return "caller_error";
    case FailureClass::kKeyInvalid:
      return "key_invalid";
    case FailureClass::kRateLimited:
      return "rate_limited";
    case FailureClass::kOverloaded:
      return "overloaded";
    case FailureClass::kServerError:
      return "server_error";
    case FailureClass::kTimeout:
      return "timeout";
    case FailureClass::kConnection:
      return "connection";
    case FailureClass::kMalformed:
      return "malformed";
    case FailureClass::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

FailureClass classify(const HttpResponse& response) {
  switch (response.error) {
    case TransportError::kNone:
      break;
    case TransportError::kTimeout:
      return FailureClass::kTimeout;
    case TransportError::kConnectFailed:
    case TransportError::kConnectionReset:
    case TransportError::kOther:
      return FailureClass::kConnection;
    case TransportError::kCancelled:
      return FailureClass::kCancelled;
  }
  const int s = response.status;
  if (s >= 200 && s < 300) return FailureClass::kNone;
  if (s == 401 || s == 403) return FailureClass::kKeyInvalid;
  if (s == 429) return FailureClass::kRateLimited;
  // 529 is Anthropic's "overloaded_error"; 503 is the usual "try later".
  if (s == 503 || s == 529) return FailureClass::kOverloaded;
  // 408 (the server timed us out) is the endpoint's trouble, not the caller's.
  if (s == 408) return FailureClass::kTimeout;
  if (s >= 500) return FailureClass::kServerError;
  if (s >= 400) return FailureClass::kCallerError;
  // 1xx/3xx: the transport follows no redirects for us, so an unexpected status is the server's.
  return FailureClass::kServerError;
}

bool isRetryable(FailureClass failure) {
  switch (failure) {
    case FailureClass::kNone:
    case FailureClass::kCallerError:
    case FailureClass::kCancelled:
      return false;
    default:
      return true;
  }
}

bool countsAgainstEndpoint(FailureClass failure) {
  switch (failure) {
    case FailureClass::kOverloaded:
    case FailureClass::kServerError:
    case FailureClass::kTimeout:
    case FailureClass::kConnection:
    case FailureClass::kMalformed:
      return true;
    default:
      return false;
  }
}

}  // namespace celeriac::balancer
