#pragma once
// ISO-8601 timestamps as Celery writes and reads them (eta, expires, date_done).
//
// What for: parse the `eta`/`expires` strings of task messages and format the
// `date_done` of result documents.
// What not: no clock is read here; callers pass time points in. No time zones other
// than explicit numeric offsets: naive strings are UTC (Celery reads them in the worker's
// timezone, UTC by default).
// Ownership: pure functions, no state.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace celeriac::worker::celery {

// Accepts YYYY-MM-DD{T| }HH:MM[:SS[.f{1,9}]][Z|±HH:MM|±HHMM|±HH] (Python's
// isoformat(), with or without fraction, `Z` suffix, naive = UTC). The fraction is a
// real decimal fraction (".123" is 123 ms; Celery <= 5.2 misread it as 123 us).
// Returns nullopt for anything else, including out-of-range fields (month 13,
// Feb 30, hour 24, second 60, offset above 23:59, year 0) and trailing characters.
// Times before kEarliestIsoTime read as kEarliestIsoTime and times from kLatestIsoTime
// on as kLatestIsoTime: Python accepts years 1 to 9999, and for an eta or expires both
// ends only mean "long past" or "never", while a system_clock time point (64-bit
// nanoseconds) holds only 1677 to 2262; clamped, `eta - now` cannot overflow either.
inline constexpr std::chrono::sys_seconds kEarliestIsoTime{
    std::chrono::sys_days(std::chrono::year(1900) / 1 / 1)};
inline constexpr std::chrono::sys_seconds kLatestIsoTime{
    std::chrono::sys_days(std::chrono::year(2200) / 1 / 1)};
std::optional<std::chrono::system_clock::time_point> parseIsoTime(std::string_view text);

// "YYYY-MM-DDTHH:MM:SS.ffffff+00:00": UTC, always 6 fraction digits (truncated to
// the microsecond), so Celery <= 5.2's literal-microseconds parser reads it right.
std::string formatIsoTime(std::chrono::system_clock::time_point time);

}  // namespace celeriac::worker::celery
