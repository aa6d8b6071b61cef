#pragma once
// How the stub spells rate-limit state on the wire: OpenAI's x-ratelimit-* headers with
// Go-style durations ("6m0s", "1.5s", "20ms"), Anthropic's anthropic-ratelimit-* headers
// with RFC 3339 instants, and Retry-After.
//
// Pure functions: no clock reads (the caller passes |now|), no I/O.

#include <chrono>
#include <cstdint>
#include <string>

#include "http_message.h"
#include "reply.h"

namespace celeriac::testing::stub {

// One key's window as the headers report it.
struct WindowSnapshot {
  std::uint64_t request_limit = 0;
  std::uint64_t request_remaining = 0;
  std::chrono::milliseconds requests_reset{0};  // until the window is empty again
  std::uint64_t token_limit = 0;
  std::uint64_t token_remaining = 0;
  std::chrono::milliseconds tokens_reset{0};
};

// Go's time.Duration.String() at millisecond precision: "0s", "20ms", "1.5s", "1m30.5s",
// "6m0s", "1h0m0s" (the form OpenAI uses in x-ratelimit-reset-*).
[[nodiscard]] std::string formatGoDuration(std::chrono::milliseconds d);
// RFC 3339 UTC with whole seconds, rounded up so a client never comes back early:
// "2024-05-01T12:00:07Z".
[[nodiscard]] std::string formatRfc3339(WallTime t);
// RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (Retry-After's date form).
[[nodiscard]] std::string formatHttpDate(WallTime t);
// Retry-After delay-seconds: whole seconds rounded up, at least 1.
[[nodiscard]] std::string formatRetryAfterSeconds(std::chrono::milliseconds d);

void addOpenAiRateLimitHeaders(HttpResponse& response, const WindowSnapshot& w);
void addAnthropicRateLimitHeaders(HttpResponse& response, const WindowSnapshot& w, WallTime now);

}  // namespace celeriac::testing::stub
