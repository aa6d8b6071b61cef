#pragma once
// SharedBucketStore: RPM/TPM buckets shared by several replicas through Redis.
//
// For: keys used by more than one process. Every bucket a request needs is reserved in
// ONE atomic server-side script (kSharedBucketScript) using the Redis server's clock
// (redis.call('TIME')), so replicas with skewed clocks agree, and either all buckets are
// taken or none. Refunds and debts go through the same script with negative/positive
// amounts. Keys are hash-tagged ("{celeriac:key:<alias>:<model>}:rpm") so all buckets of
// one (key, model) live in one Redis Cluster slot.
// Not for: the hiredis implementation (worker/redis, later) or local buckets
// (AdmissionControl, which is also the fallback when Redis is unreachable).
// Implementations run on the loop; callbacks fire once, on the loop, never inside the
// call that started them.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace celeriac::balancer {

// The Lua script. KEYS: one hash per bucket (fields `level`, `ts_us`). ARGV[1] is the
// mode, "reserve" (all-or-none) or "adjust" (unconditional: refunds and debts); then for
// each bucket i: capacity_i (per minute), amount_i. Returns {1, 0} when applied, or
// {0, wait_ms}: the time until every bucket would hold its amount.
extern const std::string_view kSharedBucketScript;

// "{celeriac:key:<alias>:<model>}" — the hash tag shared by that pair's buckets.
[[nodiscard]] std::string sharedBucketTag(std::string_view alias, std::string_view model);

struct SharedBucketSpec {
  std::string key;      // e.g. sharedBucketTag(alias, model) + ":rpm"
  double capacity = 0;  // per minute
  double amount = 0;    // > 0 take, < 0 give back
};

struct SharedReserveResult {
  enum class Status { kReserved, kRefused, kUnavailable };  // kUnavailable: Redis down
  Status status = Status::kUnavailable;
  std::chrono::milliseconds retry_after{0};  // kRefused: when all would fit
};

class SharedBucketStore {
 public:
  virtual ~SharedBucketStore() = default;
  // All-or-none reservation of every bucket in `buckets`.
  virtual void reserve(std::vector<SharedBucketSpec> buckets,
                       std::function<void(SharedReserveResult)> done) = 0;
  // Unconditional adjustment (refund when amount < 0, debt when > 0), same script.
  virtual void adjust(std::vector<SharedBucketSpec> buckets,
                      std::function<void(SharedReserveResult)> done) = 0;
};

}  // namespace celeriac::balancer
