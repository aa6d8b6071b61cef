#pragma once
// CallResult: how one Balancer::submit ends, with the routing trace that led there.
// The same for a chat call and an embeddings call: only the payload differs (`content`
// for chat, `vectors` for embeddings).
//
// For: the task layer (worker/tasks) to turn into a Celery result: a success, or a typed
// failure it can act on (caller error: FAILURE, no retry; all unavailable: park the task
// until `retry_at`; deadline exceeded; attempts exhausted; cancelled). The trace lists
// every attempt and every candidate skipped, with the reason, so an operator can see why a
// call went where it went; a skip or wait that repeats is counted on its first entry. Plain values;
// contains no secrets (keys appear as aliases).

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "balancer/chat_request.h"
#include "balancer/failure_class.h"
#include "common/clock.h"

namespace celeriac::balancer {

struct TraceEntry {
  enum class Kind { kSkipped, kAttempt, kWait };
  Kind kind = Kind::kSkipped;
  std::chrono::microseconds at{0};  // since submit
  std::string endpoint;
  std::string model;
  std::string key_alias;
  std::string reason;  // kSkipped: breaker_open, key_paused, rpm_exhausted, tpm_exhausted,
                       // key_invalid, backoff, retry_budget, unhealthy, shared_exhausted,
                       // embeddings_unsupported (the provider has no embeddings API).
                       // kWait: why. kAttempt: outcome.
  FailureClass failure = FailureClass::kNone;  // kAttempt
  int http_status = 0;                         // kAttempt
  std::chrono::microseconds latency{0};        // kAttempt
  // kSkipped, kWait: how many more times the same entry (kind, endpoint, model, key,
  // reason) happened after this one; each is recorded once, so a call that waits out an
  // outage, walking its chain at every wake-up, keeps a trace of bounded size.
  int repeats = 0;
};

struct CallSuccess {
  std::string content;                       // chat: the reply text (empty for embeddings)
  std::vector<std::vector<double>> vectors;  // embeddings: vectors[i] embeds input[i]
  std::string model;  // the model we asked for (provider's own id in provider_model)
  std::string provider_model;
  std::string endpoint;
  std::string key_alias;
  std::chrono::microseconds latency{0};  // of the successful attempt
  std::chrono::microseconds total{0};    // since submit, incl. waits and failed attempts
  std::optional<Usage> usage;            // embeddings: input tokens only (output_tokens 0)
  double cost_usd = 0;
  int attempts = 0;
};

enum class CallErrorKind {
  kCallerError,     // 4xx from the provider, or a bad request/route: never retried
  kAllUnavailable,  // nothing can take it before its deadline: park until retry_at
  kDeadlineExceeded,
  kAttemptsExhausted,  // the attempt cap was reached: last_failure says why
  kCancelled,
};

[[nodiscard]] std::string_view toString(CallErrorKind kind);

struct CallFailure {
  CallErrorKind kind = CallErrorKind::kAllUnavailable;
  std::string message;  // provider's error text or our reason; never a secret
  int http_status = 0;  // kCallerError from a provider
  FailureClass last_failure = FailureClass::kNone;
  std::optional<SteadyTime> retry_at;     // kAllUnavailable: earliest time worth retrying
  std::optional<WallTime> retry_at_wall;  // the same as wall time, for a delayed message
  int attempts = 0;
};

struct CallResult {
  std::variant<CallSuccess, CallFailure> outcome;
  std::vector<TraceEntry> trace;
  // A chat call's request, handed back as it was submitted (nullopt for embeddings):
  // a caller that follows up with a longer conversation (JsonLlmCall's repair) moves it
  // into submit() and gets it back here, instead of keeping a copy while the call waits.
  std::optional<ChatRequest> request;

  [[nodiscard]] bool ok() const { return std::holds_alternative<CallSuccess>(outcome); }
  [[nodiscard]] const CallSuccess& success() const { return std::get<CallSuccess>(outcome); }
  [[nodiscard]] const CallFailure& failure() const { return std::get<CallFailure>(outcome); }
};

}  // namespace celeriac::balancer
