#include "providers/rate_limit_info.h"

#include <algorithm>
#include <charconv>
#include <string>

#include "providers/time_formats.h"

namespace celeriac::balancer {
namespace {

using std::chrono::milliseconds;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::int64_t> intHeader(const std::vector<HttpHeader>& headers,
                                      std::string_view name) {
  const HttpHeader* h = findHeader(headers, name);
  if (h == nullptr) return std::nullopt;
  const std::string_view v = trim(h->value);
  std::int64_t out = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || ptr != v.data() + v.size() || out < 0) return std::nullopt;
  return out;
}

milliseconds untilWall(WallTime at, WallTime wall_now) {
  if (at <= wall_now) return milliseconds{0};
  // Round up: pausing a millisecond too long is harmless, too short earns another 429.
  return std::chrono::ceil<milliseconds>(at - wall_now);
}

// OpenAI sends Go durations; some OpenAI-compatible servers send plain seconds.
std::optional<milliseconds> durationHeader(const std::vector<HttpHeader>& headers,
                                           std::string_view name) {
  const HttpHeader* h = findHeader(headers, name);
  if (h == nullptr) return std::nullopt;
  const std::string_view v = trim(h->value);
  if (auto d = parseGoDuration(v)) return std::chrono::ceil<milliseconds>(*d);
  return parseDecimalSeconds(v);
}

std::optional<milliseconds> rfc3339Header(const std::vector<HttpHeader>& headers,
                                          std::string_view name, WallTime wall_now) {
  const HttpHeader* h = findHeader(headers, name);
  if (h == nullptr) return std::nullopt;
  if (auto at = parseRfc3339(trim(h->value))) return untilWall(*at, wall_now);
  return std::nullopt;
}

template <typename T>
void takeMin(std::optional<T>& into, std::optional<T> v) {
  if (v && (!into || *v < *into)) into = v;
}

template <typename T>
void takeMax(std::optional<T>& into, std::optional<T> v) {
  if (v && (!into || *v > *into)) into = v;
}

}  // namespace

const HttpHeader* findHeader(const std::vector<HttpHeader>& headers, std::string_view name) {
  for (const HttpHeader& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return &h;
  }
  return nullptr;
}

bool RateLimitInfo::empty() const {
  return !limit_requests && !limit_tokens && !remaining_requests && !remaining_tokens &&
         !reset_requests && !reset_tokens && !retry_after;
}

std::optional<milliseconds> RateLimitInfo::pauseAfter429() const {
  // A reset counts unless its limit is reported as NOT exhausted: a 429 that gives a
  // reset but no remaining count may well be about that limit.
  std::optional<milliseconds> out = retry_after;
  if (!remaining_requests || *remaining_requests == 0) takeMax(out, reset_requests);
  if (!remaining_tokens || *remaining_tokens == 0) takeMax(out, reset_tokens);
  return out;
}

std::optional<milliseconds> parseRetryAfter(const std::vector<HttpHeader>& headers,
                                            WallTime wall_now) {
  // Both headers may come together (OpenAI/Azure add `retry-after-ms` beside the
  // standard one, rounded differently). Waiting for the later of the two is never too
  // early for either, so the LATEST wins rather than the finer one.
  std::optional<milliseconds> out;
  // `retry-after-ms` is an OpenAI/Azure extension carrying milliseconds.
  if (const HttpHeader* h = findHeader(headers, "retry-after-ms")) {
    if (auto secs = parseDecimalSeconds(h->value)) {
      // parseDecimalSeconds scales by 1000; the value here is already milliseconds.
      takeMax(out, std::optional<milliseconds>{
                       std::chrono::ceil<milliseconds>(std::chrono::duration<double, std::milli>(
                           static_cast<double>(secs->count()) / 1000.0))});
    }
  }
  // RFC 9110 section 10.2.3: delay-seconds or an HTTP-date.
  if (const HttpHeader* h = findHeader(headers, "retry-after")) {
    const std::string_view v = trim(h->value);
    if (auto secs = parseDecimalSeconds(v)) {
      takeMax(out, secs);
    } else if (auto at = parseHttpDate(v)) {
      takeMax(out, std::optional<milliseconds>{untilWall(*at, wall_now)});
    }
  }
  return out;
}

RateLimitInfo parseRateLimitHeaders(const std::vector<HttpHeader>& headers, WallTime wall_now) {
  RateLimitInfo info;
  // OpenAI: https://platform.openai.com/docs/guides/rate-limits (headers section).
  info.limit_requests = intHeader(headers, "x-ratelimit-limit-requests");
  info.limit_tokens = intHeader(headers, "x-ratelimit-limit-tokens");
  info.remaining_requests = intHeader(headers, "x-ratelimit-remaining-requests");
  info.remaining_tokens = intHeader(headers, "x-ratelimit-remaining-tokens");
  info.reset_requests = durationHeader(headers, "x-ratelimit-reset-requests");
  info.reset_tokens = durationHeader(headers, "x-ratelimit-reset-tokens");

  // Anthropic: https://docs.anthropic.com/en/api/rate-limits (response headers). It
  // reports total tokens and separately input/output tokens; the tightest one governs
  // our single TPM bucket.
  takeMin(info.limit_requests, intHeader(headers, "anthropic-ratelimit-requests-limit"));
  takeMin(info.remaining_requests, intHeader(headers, "anthropic-ratelimit-requests-remaining"));
  takeMax(info.reset_requests,
          rfc3339Header(headers, "anthropic-ratelimit-requests-reset", wall_now));
  for (const char* prefix : {"anthropic-ratelimit-tokens", "anthropic-ratelimit-input-tokens",
                             "anthropic-ratelimit-output-tokens"}) {
    const std::string p(prefix);
    takeMin(info.limit_tokens, intHeader(headers, p + "-limit"));
    takeMin(info.remaining_tokens, intHeader(headers, p + "-remaining"));
    takeMax(info.reset_tokens, rfc3339Header(headers, p + "-reset", wall_now));
  }
  info.retry_after = parseRetryAfter(headers, wall_now);
  return info;
}

}  // namespace celeriac::balancer
