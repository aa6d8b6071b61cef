#pragma once
// RedisSharedBucketStore: balancer::SharedBucketStore over one RedisConnection
// (redis_connection.h: connecting, AUTH/SELECT, timeouts, reconnects, EVALSHA).
//
// For: RPM windows and TPM buckets shared by several replicas. Every reserve/adjust is ONE
// run of balancer::kSharedBucketScript (all buckets of a request taken together or none,
// on the Redis server's clock). The script is loaded with SCRIPT LOAD on each connect
// and run with EVALSHA; a NOSCRIPT error (cache flushed, failover to a replica without
// it) runs the same command again with EVAL, which also reloads the cache.
// Not for: deciding what to do when Redis is away. This store only says so, quickly:
// kUnavailable lets the Balancer fall back to local buckets sized to this replica's share.
//
// Availability, never waiting long:
//   - no connection (backing off between reconnects): kUnavailable at once (posted);
//   - connecting: the command is buffered by hiredis and sent when connected;
//   - every command has a deadline (command_timeout): at the deadline the connection
//     drops and every pending command answers kUnavailable, so a stuck Redis cannot
//     hold calls. A timed-out reserve may still have been applied by Redis; those
//     tokens are lost until refill (the safe direction);
//   - connecting is bounded by connect_timeout too;
//   - an error reply (OOM, READONLY, BUSY, NOSCRIPT again...) answers kUnavailable;
//   - reconnects use jittered exponential backoff (backoff_min..backoff_max).
//
// Callbacks: `done` fires exactly once, on the loop, never inside reserve()/adjust();
// real replies are delivered from hiredis's reply callback, failures are posted through
// the dispatcher. close() and destruction drop the callbacks of every earlier call
// (pending or posted); a call made after close() gets kUnavailable.
// Loop thread only; the dispatcher must outlive the store.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "balancer/shared_bucket_store.h"
#include "common/lifetime_token.h"
#include "worker/redis/redis_connection.h"
#include "worker/redis/redis_url.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::worker::redis {

struct RedisSharedBucketStoreOptions {
  // On the call path, but a timeout is costly: the balancer then holds every shared key
  // for a whole window (balancer.h), so it must mean "Redis is gone", not "a loop turn or
  // Redis ran slow on a busy machine" (250 ms was seen to trip under load).
  std::chrono::milliseconds command_timeout{1000};
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
};

class RedisSharedBucketStore final : public balancer::SharedBucketStore {
 public:
  struct Callbacks {
    std::function<void()> on_available;                             // connected
    std::function<void(const std::string& reason)> on_unavailable;  // safe to log
  };

  RedisSharedBucketStore(uv::UvDispatcher& dispatcher, RedisUrl url,
                         RedisSharedBucketStoreOptions options = {}, Callbacks callbacks = {});
  ~RedisSharedBucketStore() override;
  RedisSharedBucketStore(const RedisSharedBucketStore&) = delete;
  RedisSharedBucketStore& operator=(const RedisSharedBucketStore&) = delete;

  // Connects (and keeps reconnecting). Commands before start() are kUnavailable.
  void start();
  // Disconnects for good; earlier calls never call back, later calls get kUnavailable.
  void close();

  void reserve(std::vector<balancer::SharedBucketSpec> buckets,
               std::function<void(balancer::SharedReserveResult)> done) override;
  void adjust(std::vector<balancer::SharedBucketSpec> buckets,
              std::function<void(balancer::SharedReserveResult)> done) override;

  [[nodiscard]] bool available() const { return connection_.connected(); }
  [[nodiscard]] std::size_t pending() const { return pending_.size(); }

 private:
  using Done = std::function<void(balancer::SharedReserveResult)>;

  void run(const std::string& mode, const std::vector<balancer::SharedBucketSpec>& buckets,
           Done done);
  void onReply(std::uint64_t seq, std::optional<RedisValue> reply);
  void unavailableLater(Done done);
  void notifyUnavailable(const std::string& reason);

  uv::UvDispatcher& dispatcher_;
  Callbacks callbacks_;
  std::uint64_t next_seq_ = 1;
  std::map<std::uint64_t, Done> pending_;  // by seq; sent, not answered yet
  // Renewed by close(): posted answers of earlier calls find their life gone.
  common::LifetimeToken lifetime_;
  // Last: destroyed first, so no callback of it finds the store half gone.
  RedisConnection connection_;
};

}  // namespace celeriac::worker::redis
