#pragma once
// SharedBucketStore: request and token limits shared by several replicas through Redis.
//
// For: keys used by more than one process. Every limit a request needs is reserved in
// ONE atomic server-side script (kSharedBucketScript) using the Redis server's clock
// (redis.call('TIME')), so replicas with skewed clocks agree, and either all are taken
// or none. Refunds and debts go through the same script with negative/positive amounts.
// Keys are hash-tagged ("{celeriac:key:<alias>:<model>}:rpmw") so all limits of one
// (key, model) live in one Redis Cluster slot.
//
// Two kinds of limit, because they answer different questions:
//   - kSlidingWindow (requests): "at most `capacity` grants in ANY `period`", an exact
//     sliding log (a sorted set of grant times). This is how providers count RPM. A
//     token bucket would not do: it starts full and refills continuously, so it lets
//     through up to ~2x its capacity within one period (the full burst, then the refill).
//   - kTokenBucket (tokens): `capacity` per `period`, refilled continuously; reserved as
//     an estimate and reconciled with the real usage afterwards (debt allowed).
// Not for: the hiredis implementation (worker/redis) or local limits (AdmissionControl,
// which is also the fallback when Redis is unreachable).
// Implementations run on the loop; callbacks fire once, on the loop, never inside the
// call that started them.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace celeriac::balancer {

// The Lua script. KEYS: one per limit (a hash with fields `level`, `ts_us` for a token
// bucket; a sorted set of grant times in ms for a sliding window). ARGV is
// sharedScriptArgv(): the mode, "reserve" (all-or-none) or "adjust" (unconditional:
// refunds and debts), then five values per key (kind, capacity, amount, period_ms,
// grant). Returns {1, 0, grant} when applied (grant: the id of the window entries this
// run added, "" if none), or {0, wait_ms}: the time until every limit would admit.
extern const std::string_view kSharedBucketScript;

// "{celeriac:key:<alias>:<model>}" — the hash tag shared by that pair's keys.
[[nodiscard]] std::string sharedBucketTag(std::string_view alias, std::string_view model);

struct SharedBucketSpec {
  // kPause: "no grant before", set by an adjust of `amount` ms (a 429's Retry-After),
  // honoured by every reserve that lists it; capacity and period are unused.
  enum class Kind { kTokenBucket, kSlidingWindow, kPause };

  std::string key;      // e.g. sharedBucketTag(alias, model) + ":rpmw"
  double capacity = 0;  // per `period` (a window: the most grants in any `period`)
  double amount = 0;    // > 0 take, < 0 give back (a window counts whole entries)
  Kind kind = Kind::kTokenBucket;
  std::chrono::milliseconds period = std::chrono::minutes(1);
  // Window refunds only: the SharedReserveResult::grant whose entries to remove. Empty
  // removes the newest entries instead (an approximation: see the script).
  std::string grant;
};

struct SharedReserveResult {
  enum class Status { kReserved, kRefused, kUnavailable };  // kUnavailable: Redis down
  Status status = Status::kUnavailable;
  std::chrono::milliseconds retry_after{0};  // kRefused: when all would fit
  std::string grant;  // kReserved: names the window entries taken, for a refund
};

// The script's ARGV (after the KEYS) for `mode` ("reserve" | "adjust") and `buckets`, in
// order: mode, then per bucket kind ("bucket" | "window"), capacity, amount, period_ms,
// grant. Numbers are written exactly (shortest round-trip form).
[[nodiscard]] std::vector<std::string> sharedScriptArgv(
    std::string_view mode, const std::vector<SharedBucketSpec>& buckets);

class SharedBucketStore {
 public:
  virtual ~SharedBucketStore() = default;
  // All-or-none reservation of every limit in `buckets`.
  virtual void reserve(std::vector<SharedBucketSpec> buckets,
                       std::function<void(SharedReserveResult)> done) = 0;
  // Unconditional adjustment (refund when amount < 0, debt when > 0), same script.
  virtual void adjust(std::vector<SharedBucketSpec> buckets,
                      std::function<void(SharedReserveResult)> done) = 0;
};

}  // namespace celeriac::balancer
