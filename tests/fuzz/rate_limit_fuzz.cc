// Fuzz target: the rate-limit header readers on the input as response headers
// (README.md).
//
// Input: one header per line, "name: value" (a line without ':' is a name with an
// empty value). The response arrives at a fixed wall time, 2024-05-01T12:00:00Z, the
// one the unit tests use.
// Contract checked (rate_limit_info.h, time_formats.h): pure parsers that return
// nullopt on anything they do not read; no exception, no overflow, no crash. Each value
// also goes through every time_formats.h parser on its own.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "balancer/http_transport.h"
#include "fuzz_input.h"
#include "providers/rate_limit_info.h"
#include "providers/time_formats.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace celeriac::balancer;
  using namespace celeriac::common;
  std::string_view rest = celeriac::fuzz::asText(data, size);
  std::vector<HttpHeader> headers;
  while (!rest.empty()) {
    const std::string_view line = celeriac::fuzz::takeLine(rest);
    const std::size_t colon = line.find(':');
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
    headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
  }
  const WallTime wall_now{std::chrono::seconds{1'714'564'800}};  // 2024-05-01T12:00:00Z
  const RateLimitInfo info = parseRateLimitHeaders(headers, wall_now);
  (void)info.empty();
  (void)info.pauseAfter429();
  (void)parseRetryAfter(headers, wall_now);
  for (const HttpHeader& header : headers) {
    (void)findHeader(headers, header.name);
    (void)parseGoDuration(header.value);
    (void)parseRfc3339(header.value);
    (void)parseHttpDate(header.value);
    (void)parseDecimalSeconds(header.value);
  }
  return 0;
}
