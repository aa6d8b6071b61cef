#pragma once
// Task rate limits as Celery has them: the `rate_limit` strings ("10/m") and the
// per-task token bucket the worker holds tasks in.
//
// What for: a task's configured rate limit and the `rate_limit` control command
// (arguments {"task_name", "rate_limit": "10/m"}); `inspect registered` lists a limited
// task as "name [rate_limit=10/m]".
// Semantics from Celery 5.2 / kombu 5.2:
//  * celery.utils.time.rate(): "N/s", "N/m", "N/h", a bare number per second, "" / "0"
//    for no limit; N is a float ("0.5/s").
//  * Consumer.bucket_for_task(): kombu.utils.limits.TokenBucket(rate, capacity=1), full
//    when created, so the first task runs at once and then one every 1/rate seconds;
//    a task that finds the bucket empty waits (reserved, un-acked) until nextAt().
//    Consumer.reset_rate_limits() rebuilds every bucket after a `rate_limit` command,
//    so a changed limit starts full again.
// Differences (safer): kombu refreshes the bucket's timestamp only while it is not full,
// so a bucket created more than 1/rate before its first task lets the first two tasks
// start back to back (checked with kombu 5.2.4); this bucket lets one through.
// Negative and non-finite rates are errors here (Python accepts them and misbehaves).
// What not: no queue of waiting tasks and no timers: the app holds the waiting tasks and
// arms a timer for nextAt(). Not thread-safe; lives on the worker's loop.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"

namespace celeriac::worker::celery {

struct RateLimit {
  double tasks_per_second = 0;  // 0: no limit
  std::string text;             // as given ("10/m"), for `registered`
};

// Never throws. Accepts optional spaces around the number, [+-]digits[.digits][e[+-]d],
// then optionally "/" and one of s, m, h ("10/" is per second, as in Python).
// The error's message is Python's repr of the error rate() raises, e.g.
// "ValueError(\"could not convert string to float: 'fast'\")" or "KeyError('x')".
// Celery replies {"error": "Invalid rate limit string: <that>"} for a ValueError
// (a KeyError escapes the command and is replied as {"error": "KeyError('x')"}).
Result<RateLimit> parseRateLimit(std::string_view text);

class TaskRateLimiter {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // Sets `task`'s limit; its bucket starts full at `now`. A zero rate removes the
  // bucket (no limit) but describe() still shows the text, as Python does.
  void set(std::string_view task, const RateLimit& limit, SteadyTime now);

  // Forgets `task`'s limit entirely.
  void clear(std::string_view task);

  // True if `task` may start at `now` (unlimited, or a token was taken).
  [[nodiscard]] bool tryTake(std::string_view task, SteadyTime now);

  // When tryTake() will next succeed: `now` if it would now (or the task is
  // unlimited), else the (rounded up) time the next token is whole.
  [[nodiscard]] SteadyTime nextAt(std::string_view task, SteadyTime now) const;

  [[nodiscard]] bool limited(std::string_view task) const;

  // "name [rate_limit=10/m]" for `inspect registered` when `task` has a limit set,
  // nullopt otherwise (list the bare name then).
  [[nodiscard]] std::optional<std::string> describe(std::string_view task) const;

 private:
  struct Bucket {
    RateLimit limit;
    double tokens = 1.0;  // capacity is 1
    SteadyTime updated;
  };
  [[nodiscard]] double tokensAt(const Bucket& bucket, SteadyTime now) const;

  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace celeriac::worker::celery
