#pragma once
// Parsers for the time formats that LLM providers put in HTTP headers.
//
// For: turning `x-ratelimit-reset-*` ("6m0s", "1m30.5s", "20ms"), Anthropic's RFC 3339
// resets ("2024-05-01T12:00:30Z") and HTTP-dates ("Sun, 06 Nov 1994 08:49:37 GMT") into
// std::chrono values. Not for: deciding what to do with them (see RateLimitInfo).
// Pure functions: no clock, no allocation beyond the return value, thread-safe.

#include <chrono>
#include <optional>
#include <string_view>

#include "common/clock.h"

namespace celeriac::balancer {

// Go's time.Duration.String() form as OpenAI sends it: a sequence of <decimal><unit>
// with units h, m, s, ms, us/µs, ns ("6m0s", "1m30.5s", "20ms", "0s"). Returns nullopt
// on anything else, including a negative sign (a reset is never in the past).
[[nodiscard]] std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view text);

// Both date parsers return nullopt for a year outside 1678..2261 (a WallTime holds
// nanoseconds since 1970 in 64 bits) and for out-of-range fields.

// RFC 3339 date-time ("2024-05-01T12:00:30Z", "2024-05-01T12:00:30.25+02:00"); the
// offset is at most 23:59 either way.
[[nodiscard]] std::optional<WallTime> parseRfc3339(std::string_view text);

// HTTP-date in the preferred IMF-fixdate form of RFC 9110 section 5.6.7
// ("Sun, 06 Nov 1994 08:49:37 GMT"). The obsolete RFC 850 and asctime forms are
// rejected: no provider we target sends them.
[[nodiscard]] std::optional<WallTime> parseHttpDate(std::string_view text);

// A non-negative decimal number of seconds ("30", "1.5"). Used by Retry-After.
[[nodiscard]] std::optional<std::chrono::milliseconds> parseDecimalSeconds(std::string_view text);

}  // namespace celeriac::balancer
