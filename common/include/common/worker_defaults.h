#pragma once
// The worker's defaults that more than one component states, in one place so that the
// command line (worker/app/worker_config.h), the task pipeline, the AMQP connection and
// the result store cannot drift apart.
//
// For: a value the user sees as a default (`celeriac worker --help`) that a component's
// options struct also needs as its own default. Not for: one component's private tuning
// (that stays beside the code it tunes), nor anything read at run time.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace celeriac::inline common {

// How long a stored result lives in Redis: Celery's result_expires default, one day.
// 0 (from --result-expires) means forever.
inline constexpr std::chrono::seconds kDefaultResultExpires{86400};

// Tasks in flight at once (-c). Not Celery's default (the CPU count): celeriac's tasks
// wait on I/O, not on a CPU, so one loop keeps many in flight.
inline constexpr std::size_t kDefaultConcurrency = 100;

// Celery's worker_prefetch_multiplier default (--prefetch-multiplier).
inline constexpr std::size_t kDefaultPrefetchMultiplier = 4;

// The basic.qos prefetch that follows from the two: concurrency x multiplier.
inline constexpr std::uint16_t kDefaultPrefetch =
    static_cast<std::uint16_t>(kDefaultConcurrency * kDefaultPrefetchMultiplier);
static_assert(kDefaultConcurrency * kDefaultPrefetchMultiplier <= UINT16_MAX);

}  // namespace celeriac::inline common
