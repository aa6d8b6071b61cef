#include "worker/celery/iso_time.h"

#include <cstdio>

namespace celeriac::worker::celery {
namespace {

using std::chrono::system_clock;

// A tiny cursor over the input; every reader returns false on mismatch.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const { return pos_ == text_.size(); }
  bool peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool peekDigit() const { return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; }
  bool accept(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }
  // Exactly `count` decimal digits.
  bool digits(int count, int& out) {
    int value = 0;
    for (int i = 0; i < count; ++i) {
      if (!peekDigit()) return false;
      value = value * 10 + (text_[pos_] - '0');
      ++pos_;
    }
    out = value;
    return true;
  }
  char next() { return text_[pos_++]; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// Fraction of 1..9 digits after the '.', scaled to nanoseconds.
bool readFraction(Cursor& cursor, std::chrono::nanoseconds& out) {
  long long value = 0;
  int count = 0;
  while (cursor.peekDigit()) {
    if (count == 9) return false;
    value = value * 10 + (cursor.next() - '0');
    ++count;
  }
  if (count == 0) return false;
  for (int i = count; i < 9; ++i) value *= 10;
  out = std::chrono::nanoseconds(value);
  return true;
}

// Z, ±HH:MM, ±HHMM or ±HH; absent (naive) means UTC.
bool readOffset(Cursor& cursor, std::chrono::minutes& out) {
  out = std::chrono::minutes(0);
  if (cursor.done()) return true;
  if (cursor.accept('Z') || cursor.accept('z')) return true;
  int sign = 0;
  if (cursor.accept('+')) {
    sign = 1;
  } else if (cursor.accept('-')) {
    sign = -1;
  } else {
    return false;
  }
  int hours = 0;
  int minutes = 0;
  if (!cursor.digits(2, hours)) return false;
  if (!cursor.done()) {
    cursor.accept(':');
    if (!cursor.digits(2, minutes)) return false;
  }
  if (hours > 23 || minutes > 59) return false;
  out = std::chrono::minutes(sign * (hours * 60 + minutes));
  return true;
}

}  // namespace

std::optional<system_clock::time_point> parseIsoTime(std::string_view text) {
  Cursor cursor(text);
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  std::chrono::nanoseconds fraction(0);
  std::chrono::minutes offset(0);

  if (!cursor.digits(4, year) || !cursor.accept('-') || !cursor.digits(2, month) ||
      !cursor.accept('-') || !cursor.digits(2, day)) {
    return std::nullopt;
  }
  // Python's isoformat(sep=' ') and str(datetime) use a space instead of 'T'.
  if (!(cursor.accept('T') || cursor.accept('t') || cursor.accept(' '))) return std::nullopt;
  if (!cursor.digits(2, hour) || !cursor.accept(':') || !cursor.digits(2, minute)) {
    return std::nullopt;
  }
  if (cursor.accept(':')) {
    if (!cursor.digits(2, second)) return std::nullopt;
    if (cursor.accept('.') && !readFraction(cursor, fraction)) return std::nullopt;
  }
  if (!readOffset(cursor, offset) || !cursor.done()) return std::nullopt;

  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;

  if (year < 1) return std::nullopt;  // Python's datetime.MINYEAR

  // In seconds first: any 4-digit year fits, where a nanosecond time point holds only
  // 1677..2262 (a year-9999 eta overflowed it).
  const std::chrono::sys_seconds local = std::chrono::sys_days(date) + std::chrono::hours(hour) +
                                         std::chrono::minutes(minute) +
                                         std::chrono::seconds(second);
  // The wall time is `offset` ahead of UTC, so UTC = local - offset.
  const std::chrono::sys_seconds utc = local - offset;
  if (utc < kEarliestIsoTime) return kEarliestIsoTime;
  if (utc >= kLatestIsoTime) return kLatestIsoTime;
  return std::chrono::time_point_cast<system_clock::duration>(utc) + fraction;
}

std::string formatIsoTime(system_clock::time_point time) {
  const auto micros = std::chrono::floor<std::chrono::microseconds>(time);
  const auto day_start = std::chrono::floor<std::chrono::days>(micros);
  const std::chrono::year_month_day date(day_start);
  const std::chrono::hh_mm_ss clock(micros - day_start);

  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02u-%02uT%02d:%02d:%02d.%06lld+00:00",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(clock.hours().count()),
                static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()),
                static_cast<long long>(clock.subseconds().count()));
  return buffer;
}

}  // namespace celeriac::worker::celery
