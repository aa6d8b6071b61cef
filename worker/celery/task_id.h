#pragma once
// uuid4(): a task or group id as Celery's uuid() makes them (a random, version 4 UUID),
// from 128 random bits the caller draws.
//
// What for: ids of the signatures a worker publishes without one (chain steps,
// callbacks, group and chord members) and of the groups it creates.
// What not: no randomness here (the caller owns the generator, so tests pass fixed
// bits); no other UUID versions.
// Ownership: a pure function.

#include <cstdint>
#include <string>

namespace celeriac::worker::celery {

// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (lowercase hex, y one of 8, 9, a, b) from
// `high` and `low`, with the version and variant bits set over theirs.
std::string uuid4(std::uint64_t high, std::uint64_t low);

}  // namespace celeriac::worker::celery
