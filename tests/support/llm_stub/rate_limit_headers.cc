// Rate-limit header spelling (see rate_limit_headers.h).

#include "rate_limit_headers.h"

#include <ctime>
#include <string_view>

#include <fmt/format.h>

namespace celeriac::testing::stub {
namespace {

std::tm utc(std::time_t t) {
  std::tm out{};
  gmtime_r(&t, &out);
  return out;
}

std::time_t ceilSeconds(WallTime t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return static_cast<std::time_t>((ms + 999) / 1000);
}

}  // namespace

std::string formatGoDuration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  const std::string_view sign = ms < 0 ? "-" : "";
  if (ms < 0) ms = -ms;
  if (ms < 1000) return fmt::format("{}{}ms", sign, ms);
  const std::int64_t hours = ms / 3'600'000;
  const std::int64_t minutes = (ms / 60'000) % 60;
  const std::int64_t seconds = (ms / 1000) % 60;
  const std::int64_t frac_ms = ms % 1000;
  std::string secs = fmt::format("{}", seconds);
  if (frac_ms != 0) {
    // Go trims trailing zeros of the fraction: 1.5s, not 1.500s.
    std::int64_t frac = frac_ms;
    int digits = 3;
    while (frac % 10 == 0) {
      frac /= 10;
      --digits;
    }
    secs = fmt::format("{}.{:0{}}", seconds, frac, digits);
  }
  // Go prints the larger units only when present, but always every smaller one: 6m0s.
  if (hours > 0) return fmt::format("{}{}h{}m{}s", sign, hours, minutes, secs);
  if (minutes > 0) return fmt::format("{}{}m{}s", sign, minutes, secs);
  return fmt::format("{}{}s", sign, secs);
}

std::string formatRfc3339(WallTime t) {
  const std::tm tm = utc(ceilSeconds(t));
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string formatHttpDate(WallTime t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::tm tm = utc(ceilSeconds(t));
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
                     kDays[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                     kMonths[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

std::string formatRetryAfterSeconds(std::chrono::milliseconds d) {
  const std::int64_t s = (d.count() + 999) / 1000;
  return fmt::format("{}", s < 1 ? 1 : s);
}

void addOpenAiRateLimitHeaders(HttpResponse& response, const WindowSnapshot& w) {
  response.addHeader("x-ratelimit-limit-requests", fmt::format("{}", w.request_limit));
  response.addHeader("x-ratelimit-remaining-requests", fmt::format("{}", w.request_remaining));
  response.addHeader("x-ratelimit-reset-requests", formatGoDuration(w.requests_reset));
  response.addHeader("x-ratelimit-limit-tokens", fmt::format("{}", w.token_limit));
  response.addHeader("x-ratelimit-remaining-tokens", fmt::format("{}", w.token_remaining));
  response.addHeader("x-ratelimit-reset-tokens", formatGoDuration(w.tokens_reset));
}

void addAnthropicRateLimitHeaders(HttpResponse& response, const WindowSnapshot& w, WallTime now) {
  response.addHeader("anthropic-ratelimit-requests-limit", fmt::format("{}", w.request_limit));
  response.addHeader("anthropic-ratelimit-requests-remaining",
                     fmt::format("{}", w.request_remaining));
  response.addHeader("anthropic-ratelimit-requests-reset", formatRfc3339(now + w.requests_reset));
  response.addHeader("anthropic-ratelimit-tokens-limit", fmt::format("{}", w.token_limit));
  response.addHeader("anthropic-ratelimit-tokens-remaining", fmt::format("{}", w.token_remaining));
  response.addHeader("anthropic-ratelimit-tokens-reset", formatRfc3339(now + w.tokens_reset));
}

}  // namespace celeriac::testing::stub
