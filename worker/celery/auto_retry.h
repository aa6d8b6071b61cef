#pragma once
// Celery's autoretry_for and retry_backoff, the pure part (celery/app/autoretry.py and
// celery/utils/time.py get_exponential_backoff_interval, Celery 5.2.6).
//
// What for: a task configured with `autoretry_for: [TypeName, ...]` that fails with one
// of those exceptions is retried as if it had called self.retry(exc=exc), with a
// countdown that grows with each retry when `retry_backoff` is set:
//   countdown = min(retry_backoff_max, factor * 2 ** retries)        (seconds)
//   with retry_jitter: a uniform whole number in [0, countdown]
// and the task's default_retry_delay when retry_backoff is off. max_retries still
// bounds it (then the exception itself is the FAILURE, as Celery raises it).
// What not: no randomness of its own and no clock: the caller passes a random number.
// Matching is by name, not by class hierarchy (we have no Python classes): a name
// matches an exception of exactly that type, written bare ("ValueError") or with its
// module ("celeriac.errors.LlmTimeout"); "Exception" and "BaseException" match every
// failure, as every task error is an Exception in Python.
// Ownership: pure functions.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "worker/celery/exception_info.h"

namespace celeriac::worker::celery {

// get_exponential_backoff_interval(factor, retries, maximum, full_jitter), in seconds.
// `random` stands in for random.randrange: the jittered value is random % (countdown+1).
// Never negative; huge retry counts saturate at `maximum_s`.
std::chrono::seconds exponentialBackoff(int factor, int retries, int maximum_s, bool full_jitter,
                                        std::uint64_t random);

// True when `error` is one of `type_names` (see the banner for what matches).
bool autoRetryMatches(const std::vector<std::string>& type_names, const ExceptionInfo& error);

}  // namespace celeriac::worker::celery
