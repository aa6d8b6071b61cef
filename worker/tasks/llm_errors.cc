#include "worker/tasks/llm_errors.h"

#include <algorithm>

#include "worker/celery/iso_time.h"

namespace celeriac::worker::tasks {

namespace {

celery::ExceptionInfo error(std::string_view type, std::string_view message) {
  return celery::makeException(type, redactForLog(message, 2000), kErrorsModule);
}

bool isBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

// Distinct models in the order the trace first mentions them.
std::vector<std::string> modelsTried(const balancer::CallResult& result) {
  std::vector<std::string> models;
  for (const auto& entry : result.trace) {
    if (entry.model.empty()) continue;
    if (std::find(models.begin(), models.end(), entry.model) == models.end()) {
      models.push_back(entry.model);
    }
  }
  return models;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

celery::ExceptionInfo validationError(const std::vector<SchemaError>& errors) {
  return validationError(joinErrors(errors));
}

celery::ExceptionInfo validationError(std::string_view message) {
  return error("ValidationError", "invalid input: " + std::string(message));
}

celery::ExceptionInfo invalidModelOutput(std::string_view first_error,
                                         std::string_view repair_error) {
  return error("InvalidModelOutput",
               "model output invalid after one repair attempt: " + std::string(first_error) +
                   " (after repair: " + std::string(repair_error) + ")");
}

namespace {

bool isTransient(balancer::FailureClass c) {
  using FC = balancer::FailureClass;
  return c == FC::kRateLimited || c == FC::kOverloaded || c == FC::kServerError ||
         c == FC::kTimeout || c == FC::kConnection;
}

Unavailable allUnavailable(const balancer::CallResult& result) {
  const auto& f = result.failure();
  Unavailable out;
  out.models = modelsTried(result);
  std::string message = "no model can take the call now (tried: " +
                        (out.models.empty() ? std::string("none") : joined(out.models)) + ")";
  if (f.retry_at_wall) {
    // Whole microseconds, as the stored ISO time says it.
    out.retry_at = std::chrono::floor<std::chrono::microseconds>(*f.retry_at_wall);
    message += "; retry at " + celery::formatIsoTime(*out.retry_at);
  }
  if (!f.message.empty()) message += ": " + f.message;
  out.message = redactForLog(message, 2000);
  return out;
}

}  // namespace

LlmCallFailure fromCallFailure(const balancer::CallResult& result) {
  const auto& f = result.failure();
  using Kind = balancer::CallErrorKind;
  switch (f.kind) {
    case Kind::kCallerError: {
      std::string m = "LLM request refused";
      if (f.http_status != 0) m += " (HTTP " + std::to_string(f.http_status) + ")";
      return Failure{error("LlmCallerError", m + ": " + f.message)};
    }
    case Kind::kDeadlineExceeded:
      return Failure{error("LlmDeadlineExceeded", "LLM call deadline exceeded after " +
                                                      std::to_string(f.attempts) +
                                                      " attempt(s): " + f.message)};
    case Kind::kAttemptsExhausted:
      // Every attempt failed for a reason that passes (5xx, overload, 429, timeout,
      // reset): the models are down right now, so the task is parked like
      // kAllUnavailable instead of failing early. A bad key or a broken
      // response format will not heal by waiting: those fail.
      if (isTransient(f.last_failure)) return allUnavailable(result);
      return Failure{error("LlmUnavailable", "LLM call failed after " + std::to_string(f.attempts) +
                                                 " attempt(s), last failure " +
                                                 std::string(balancer::toString(f.last_failure)) +
                                                 ": " + f.message)};
    case Kind::kAllUnavailable:
      return allUnavailable(result);
    case Kind::kCancelled:
      break;
  }
  return Failure{error("LlmCancelled", "LLM call cancelled: " + f.message)};
}

celery::ExceptionInfo unavailableError(const Unavailable& unavailable) {
  celery::ExceptionInfo info =
      celery::makeException("AllModelsUnavailable", unavailable.message, kErrorsModule);
  info.args = nlohmann::json::array(
      {unavailable.message,
       unavailable.retry_at ? nlohmann::json(celery::formatIsoTime(*unavailable.retry_at))
                            : nlohmann::json(nullptr),
       unavailable.models});
  return info;
}

std::string redactForLog(std::string_view text, std::size_t max_chars) {
  constexpr std::string_view kMarker = ";base64,";
  constexpr std::size_t kKeep = 16;  // enough to tell two images apart in a log
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto marker = text.find(kMarker, pos);
    if (marker == std::string_view::npos) break;
    const auto body = marker + kMarker.size();
    auto end = body;
    while (end < text.size() && isBase64Char(text[end])) ++end;
    const auto length = end - body;
    if (length <= kKeep) {
      out += text.substr(pos, end - pos);
    } else {
      out += text.substr(pos, body + kKeep - pos);
      out += "...[" + std::to_string(length) + " base64 chars]";
    }
    pos = end;
  }
  out += text.substr(std::min(pos, text.size()));
  if (out.size() > max_chars) {
    out.resize(max_chars);
    out += "...";
  }
  return out;
}

}  // namespace celeriac::worker::tasks
