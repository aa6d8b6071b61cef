#pragma once
// RateLimitInfo: what a provider's response headers say about its rate limits.
//
// For: extracting, from one response, the remaining requests/tokens, when each resets,
// and any Retry-After, from both OpenAI-style (`x-ratelimit-*`, Go-duration resets,
// `retry-after`, `retry-after-ms`) and Anthropic-style (`anthropic-ratelimit-*`, RFC 3339
// resets) headers. Not for: acting on them (TokenBucket::syncFromHeaders and
// AdmissionControl do that). Pure value type; the wall time is passed in, never read.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "balancer/http_transport.h"
#include "common/clock.h"

namespace celeriac::balancer {

// Case-insensitive lookup of the first header named `name`; nullptr when absent.
[[nodiscard]] const HttpHeader* findHeader(const std::vector<HttpHeader>& headers,
                                           std::string_view name);

struct RateLimitInfo {
  std::optional<std::int64_t> limit_requests;
  std::optional<std::int64_t> limit_tokens;
  std::optional<std::int64_t> remaining_requests;
  std::optional<std::int64_t> remaining_tokens;
  // Delays from the response's arrival until each limit is back to full.
  std::optional<std::chrono::milliseconds> reset_requests;
  std::optional<std::chrono::milliseconds> reset_tokens;
  // The later of `retry-after-ms` and `retry-after` (seconds or HTTP-date).
  std::optional<std::chrono::milliseconds> retry_after;

  [[nodiscard]] bool empty() const;

  // How long a 429 should pause the key: the LATEST of Retry-After and the reset of
  // every limit not reported as having room left (remaining 0, or no remaining header).
  // nullopt when the headers say nothing useful.
  [[nodiscard]] std::optional<std::chrono::milliseconds> pauseAfter429() const;
};

// Parses every rate-limit header it knows. Absolute times (HTTP-date, RFC 3339) are
// turned into delays relative to `wall_now`; a time in the past becomes zero.
[[nodiscard]] RateLimitInfo parseRateLimitHeaders(const std::vector<HttpHeader>& headers,
                                                  WallTime wall_now);

// Just the Retry-After part: the later of `retry-after-ms` and `retry-after` (seconds,
// or an HTTP-date relative to `wall_now`).
[[nodiscard]] std::optional<std::chrono::milliseconds> parseRetryAfter(
    const std::vector<HttpHeader>& headers, WallTime wall_now);

}  // namespace celeriac::balancer
