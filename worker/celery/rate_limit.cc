#include "worker/celery/rate_limit.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "worker/celery/python_repr.h"

namespace celeriac::worker::celery {
namespace {

// A token within this of whole counts as whole: waiting exactly until nextAt() must
// succeed despite the rounding of rate x elapsed time.
constexpr double kTokenEpsilon = 1e-9;

std::string_view trimSpaces(std::string_view text) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// repr(ValueError("could not convert string to float: '<number>'")).
std::string floatError(std::string_view number) {
  return pythonExceptionRepr(
      "ValueError", nlohmann::json::array(
                        {"could not convert string to float: " + pythonRepr(std::string(number))}));
}

}  // namespace

Result<RateLimit> parseRateLimit(std::string_view text) {
  if (text.empty()) return RateLimit{0, std::string(text)};  // rate(''): falsy, no limit
  const auto slash = text.find('/');
  const std::string_view number = text.substr(0, slash);
  const std::string_view unit =
      slash == std::string_view::npos ? std::string_view() : text.substr(slash + 1);

  double per_unit = 0;
  std::string_view digits = trimSpaces(number);
  bool negative = false;
  if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  // from_chars also reads "inf"/"nan" and hex: only plain decimal text gets there.
  const bool plain = !digits.empty() && (std::isdigit(static_cast<unsigned char>(digits.front())) ||
                                         digits.front() == '.');
  const auto [end, error] =
      plain ? std::from_chars(digits.data(), digits.data() + digits.size(), per_unit,
                              std::chars_format::general)
            : std::from_chars_result{digits.data(), std::errc::invalid_argument};
  if (!plain || error != std::errc() || end != digits.data() + digits.size()) {
    return Error{floatError(number)};
  }
  if (negative) per_unit = -per_unit;

  double seconds_per_unit = 1;
  if (unit.empty() || unit == "s") {
    seconds_per_unit = 1;
  } else if (unit == "m") {
    seconds_per_unit = 60;
  } else if (unit == "h") {
    seconds_per_unit = 3600;
  } else {
    return Error{pythonExceptionRepr("KeyError", nlohmann::json::array({std::string(unit)}))};
  }
  if (!std::isfinite(per_unit) || per_unit < 0) {
    return Error{pythonExceptionRepr(
        "ValueError", nlohmann::json::array({"rate limit must be a finite, non-negative number"}))};
  }
  return RateLimit{per_unit / seconds_per_unit, std::string(text)};
}

void TaskRateLimiter::set(std::string_view task, const RateLimit& limit, SteadyTime now) {
  Bucket bucket;
  bucket.limit = limit;
  bucket.updated = now;
  buckets_.insert_or_assign(std::string(task), std::move(bucket));
}

void TaskRateLimiter::clear(std::string_view task) { buckets_.erase(std::string(task)); }

bool TaskRateLimiter::limited(std::string_view task) const {
  const auto it = buckets_.find(std::string(task));
  return it != buckets_.end() && it->second.limit.tasks_per_second > 0;
}

double TaskRateLimiter::tokensAt(const Bucket& bucket, SteadyTime now) const {
  const double elapsed_s =
      std::max(0.0, std::chrono::duration<double>(now - bucket.updated).count());
  return std::min(1.0, bucket.tokens + bucket.limit.tasks_per_second * elapsed_s);
}

bool TaskRateLimiter::tryTake(std::string_view task, SteadyTime now) {
  const auto it = buckets_.find(std::string(task));
  if (it == buckets_.end() || it->second.limit.tasks_per_second <= 0) return true;
  Bucket& bucket = it->second;
  const double tokens = tokensAt(bucket, now);
  if (now > bucket.updated) {
    bucket.tokens = tokens;
    bucket.updated = now;
  }
  if (tokens + kTokenEpsilon < 1.0) return false;
  bucket.tokens = std::max(0.0, tokens - 1.0);
  return true;
}

TaskRateLimiter::SteadyTime TaskRateLimiter::nextAt(std::string_view task, SteadyTime now) const {
  const auto it = buckets_.find(std::string(task));
  if (it == buckets_.end() || it->second.limit.tasks_per_second <= 0) return now;
  const double tokens = tokensAt(it->second, now);
  if (tokens + kTokenEpsilon >= 1.0) return now;
  const std::chrono::duration<double> wait((1.0 - tokens) / it->second.limit.tasks_per_second);
  return now + std::chrono::ceil<SteadyTime::duration>(wait);
}

std::optional<std::string> TaskRateLimiter::describe(std::string_view task) const {
  const auto it = buckets_.find(std::string(task));
  if (it == buckets_.end() || it->second.limit.text.empty()) return std::nullopt;
  return std::string(task) + " [rate_limit=" + it->second.limit.text + "]";
}

}  // namespace celeriac::worker::celery
