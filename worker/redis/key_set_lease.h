#pragma once
// Key-set leases: which per-replica key set (balancer key_sets) a worker uses when the
// operator pinned none (no INSTANCE_ID, no StatefulSet ordinal), so that N replicas of a
// Deployment take N different sets instead of all taking set 0 and sharing one key's
// limit.
//
// A set is held by one key in Redis, `celeriac-keyset-lease:<set name>` = the owner
// (node name and pid), with a TTL. At start-up the worker claims the first free set with
// SET NX PX; while it runs it renews the lease (ResultStore::renewLease, every TTL/3);
// at exit it deletes it if it is still its own. A replica that crashed stops renewing, so
// its set is free again after the TTL and the next replica to start takes it.
// When every set is held by a live replica, the worker shares one (chosen by its owner
// name) and says so loudly: log, metric and `inspect stats` (KeySetClaim::shared).
//
// Set names must be unique among the deployments that share one Redis: two deployments
// using different keys under the same set name would keep each other out.
// claimKeySet and releaseKeySet block (hiredis' synchronous API, bounded by `timeout`):
// they run at start-up before the event loop turns and at exit after it stopped.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "worker/redis/redis_url.h"

namespace celeriac::worker::redis {

struct KeySetClaim {
  std::size_t index = 0;
  bool leased = false;  // this worker holds the lease on `index`
  bool shared = false;  // every set is leased by another replica: this one shares `index`
  std::string detail;   // what happened, safe to log
};

[[nodiscard]] std::string keySetLeaseKey(const std::string& set_name);

// Claims the first of `set_names` nobody holds. If Redis cannot be reached, falls back to
// set 0, unleased and marked shared (another replica may use it too), and says why.
KeySetClaim claimKeySet(const RedisUrl& url, const std::vector<std::string>& set_names,
                        const std::string& owner, std::chrono::milliseconds ttl,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

// Deletes the lease on `set_name` if `owner` still holds it. Best effort.
void releaseKeySet(const RedisUrl& url, const std::string& set_name, const std::string& owner,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

}  // namespace celeriac::worker::redis
