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

celery::ExceptionInfo allUnavailable(const balancer::CallResult& result) {
  const auto& f = result.failure();
  const auto models = modelsTried(result);
  nlohmann::json retry_at = nullptr;
  std::string message = "no model can take the call now (tried: " +
                        (models.empty() ? std::string("none") : joined(models)) + ")";
  if (f.retry_at_wall) {
    retry_at = celery::formatIsoTime(*f.retry_at_wall);
    message += "; retry at " + retry_at.get<std::string>();
  }
  if (!f.message.empty()) message += ": " + f.message;
  auto info = error("AllModelsUnavailable", message);
  info.args = nlohmann::json::array({info.args.at(0), retry_at, models});
  return info;
}

}  // namespace

celery::ExceptionInfo fromCallFailure(const balancer::CallResult& result) {
  const auto& f = result.failure();
  using Kind = balancer::CallErrorKind;
  switch (f.kind) {
    case Kind::kCallerError: {
      std::string m = "LLM request refused";
      if (f.http_status != 0) m += " (HTTP " + std::to_string(f.http_status) + ")";
      return error("LlmCallerError", m + ": " + f.message);
    }
    case Kind::kDeadlineExceeded:
      return error("LlmDeadlineExceeded", "LLM call deadline exceeded after " +
                                              std::to_string(f.attempts) +
                                              " attempt(s): " + f.message);
    case Kind::kAttemptsExhausted:
      // Every attempt failed for a reason that passes (5xx, overload, 429, timeout,
      // reset): the models are down right now, so the task is parked like
      // kAllUnavailable instead of failing early. A bad key or a broken
      // response format will not heal by waiting: those fail.
      if (isTransient(f.last_failure)) return allUnavailable(result);
      return error("LlmUnavailable", "LLM call failed after " + std::to_string(f.attempts) +
                                         " attempt(s), last failure " +
                                         std::string(balancer::toString(f.last_failure)) + ": " +
                                         f.message);
    case Kind::kAllUnavailable:
      return allUnavailable(result);
    case Kind::kCancelled:
      break;
  }
  return error("LlmCancelled", "LLM call cancelled: " + f.message);
}

std::optional<AllModelsUnavailable> allModelsUnavailable(const celery::ExceptionInfo& failure) {
  if (failure.type != "AllModelsUnavailable" || failure.module != kErrorsModule)
    return std::nullopt;
  if (!failure.args.is_array() || failure.args.size() != 3) return std::nullopt;
  AllModelsUnavailable out;
  if (failure.args[0].is_string()) out.message = failure.args[0].get<std::string>();
  if (failure.args[1].is_string())
    out.retry_at = celery::parseIsoTime(failure.args[1].get<std::string>());
  if (failure.args[2].is_array()) {
    for (const auto& m : failure.args[2]) {
      if (m.is_string()) out.models.push_back(m.get<std::string>());
    }
  }
  return out;
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
