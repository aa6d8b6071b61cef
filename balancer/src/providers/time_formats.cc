#include "providers/time_formats.h"

#include <array>
#include <cstdint>

namespace celeriac::balancer {
namespace {

using std::chrono::nanoseconds;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Reads an unsigned integer of exactly `width` digits at `pos`.
std::optional<int> fixedInt(std::string_view s, std::size_t pos, std::size_t width) {
  if (pos + width > s.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (!isDigit(s[i])) return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

// WallTime counts nanoseconds in 64 bits: 1677-09-21 to 2262-04-11. Years outside
// [kMinYear, kMaxYear] are refused, with a day of margin for a UTC offset, so the
// conversion below cannot overflow (a header saying "year 6991" is not a reset time).
constexpr int kMinYear = 1678;
constexpr int kMaxYear = 2261;

std::optional<WallTime> civil(int y, int mo, int d, int h, int mi, int s) {
  using namespace std::chrono;
  if (y < kMinYear || y > kMaxYear) return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  // A leap second (60) is folded into the next second, as most systems do.
  return WallTime{sys_days{ymd}.time_since_epoch() + hours{h} + minutes{mi} + seconds{s}};
}

}  // namespace

std::optional<nanoseconds> parseGoDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text == "0") return nanoseconds{0};
  long double total_ns = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    // Number: digits with an optional fraction.
    long double value = 0;
    bool any_digit = false;
    while (i < text.size() && isDigit(text[i])) {
      value = value * 10 + (text[i] - '0');
      any_digit = true;
      ++i;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < text.size() && isDigit(text[i])) {
        value += scale * (text[i] - '0');
        scale /= 10;
        any_digit = true;
        ++i;
      }
    }
    if (!any_digit) return std::nullopt;
    // Unit: the longest match wins so that "ms" is not read as "m" then "s".
    const std::string_view rest = text.substr(i);
    long double unit_ns = 0;
    std::size_t unit_len = 0;
    if (rest.starts_with("ns")) {
      unit_ns = 1, unit_len = 2;
    } else if (rest.starts_with("us")) {
      unit_ns = 1e3L, unit_len = 2;
    } else if (rest.starts_with("\xC2\xB5s")) {  // U+00B5 micro sign, as Go prints it
      unit_ns = 1e3L, unit_len = 3;
    } else if (rest.starts_with("ms")) {
      unit_ns = 1e6L, unit_len = 2;
    } else if (rest.starts_with("s")) {
      unit_ns = 1e9L, unit_len = 1;
    } else if (rest.starts_with("m")) {
      unit_ns = 60e9L, unit_len = 1;
    } else if (rest.starts_with("h")) {
      unit_ns = 3600e9L, unit_len = 1;
    } else {
      return std::nullopt;
    }
    total_ns += value * unit_ns;
    i += unit_len;
  }
  if (total_ns > 1e18L) return std::nullopt;
  return nanoseconds{static_cast<std::int64_t>(total_ns + 0.5L)};
}

std::optional<WallTime> parseRfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  const auto y = fixedInt(s, 0, 4), mo = fixedInt(s, 5, 2), d = fixedInt(s, 8, 2);
  const auto h = fixedInt(s, 11, 2), mi = fixedInt(s, 14, 2), sec = fixedInt(s, 17, 2);
  if (!y || !mo || !d || !h || !mi || !sec || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  auto base = civil(*y, *mo, *d, *h, *mi, *sec);
  if (!base) return std::nullopt;
  std::size_t i = 19;
  nanoseconds frac{0};
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::int64_t scale = 100'000'000;
    const std::size_t start = i;
    while (i < s.size() && isDigit(s[i])) {
      frac += nanoseconds{(s[i] - '0') * scale};
      scale /= 10;
      ++i;
    }
    if (i == start) return std::nullopt;
  }
  if (i >= s.size()) return std::nullopt;
  std::chrono::minutes offset{0};
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    const auto oh = fixedInt(s, i + 1, 2), om = fixedInt(s, i + 4, 2);
    if (!oh || !om || s[i + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
    offset = std::chrono::minutes{*oh * 60 + *om};
    if (s[i] == '-') offset = -offset;
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return *base + std::chrono::duration_cast<WallTime::duration>(frac) - offset;
}

std::optional<WallTime> parseHttpDate(std::string_view s) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, 29 characters.
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  int month = 0;
  for (std::size_t m = 0; m < kMonths.size(); ++m) {
    if (s.substr(8, 3) == kMonths[m]) month = static_cast<int>(m) + 1;
  }
  const auto d = fixedInt(s, 5, 2), y = fixedInt(s, 12, 4);
  const auto h = fixedInt(s, 17, 2), mi = fixedInt(s, 20, 2), sec = fixedInt(s, 23, 2);
  if (month == 0 || !d || !y || !h || !mi || !sec) return std::nullopt;
  return civil(*y, month, *d, *h, *mi, *sec);
}

std::optional<std::chrono::milliseconds> parseDecimalSeconds(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  std::int64_t whole = 0;
  std::size_t i = 0;
  for (; i < s.size() && isDigit(s[i]); ++i) {
    whole = whole * 10 + (s[i] - '0');
    if (whole > 1'000'000'000) return std::nullopt;
  }
  if (i == 0) return std::nullopt;
  std::int64_t frac_ms = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::int64_t scale = 100;
    const std::size_t start = i;
    for (; i < s.size() && isDigit(s[i]); ++i) {
      frac_ms += (s[i] - '0') * scale;
      scale /= 10;
    }
    if (i == start) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return std::chrono::milliseconds{whole * 1000 + frac_ms};
}

}  // namespace celeriac::balancer
