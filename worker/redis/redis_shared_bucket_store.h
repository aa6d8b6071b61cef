#pragma once
// RedisSharedBucketStore: balancer::SharedBucketStore over hiredis async on the libuv loop.
//
// For: RPM windows and TPM buckets shared by several replicas. Every reserve/adjust is ONE run of
// balancer::kSharedBucketScript (all buckets of a request taken together or none, on the
// Redis server's clock). The script is loaded with SCRIPT LOAD on each connect and run
// with EVALSHA; a NOSCRIPT error (cache flushed, failover to a replica without it) runs
// the same command again with EVAL, which also reloads the cache.
// Not for: deciding what to do when Redis is away. This store only says so, quickly:
// kUnavailable lets the Balancer fall back to local buckets sized to this replica's share.
//
// Availability, never waiting long:
//   - no connection (backing off between reconnects): kUnavailable at once (posted);
//   - connecting: the command is buffered by hiredis and sent when connected;
//   - every command has a deadline (command_timeout; hiredis 0.14 has no async command
//     timeout): a watchdog timer answers kUnavailable at the deadline and drops the
//     connection, so a stuck Redis cannot hold calls. A timed-out reserve may still have
//     been applied by Redis; those tokens are lost until refill (the safe direction).
//   - connecting is bounded by connect_timeout too: hiredis 0.14's libuv adapter drops
//     poll errors (adapters/libuv.h: `if (status != 0) return;`), so a refused
//     non-blocking connect may never call back (see result_store.h).
//   - reconnects use jittered exponential backoff (backoff_min..backoff_max).
//
//   +-------+ start()/backoff timer +------------+ connect cb ok  +-----------+
//   | IDLE  | --------------------> | CONNECTING | -------------> | CONNECTED |
//   +-------+                       +------------+                +-----------+
//       ^   connect error/timeout        |                             |
//       +--------------------------------+-----------------------------+
//                       disconnect, command timeout (fail pending: kUnavailable)
//
// Callbacks: `done` fires exactly once, on the loop, never inside reserve()/adjust();
// real replies are delivered from hiredis's reply callback, failures are posted through
// the dispatcher. close() and destruction drop the callbacks of every earlier call
// (pending or posted); a call made after close() gets kUnavailable.
// Loop thread only; the dispatcher must outlive the store.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "balancer/shared_bucket_store.h"
#include "worker/redis/host_resolver.h"
#include "worker/redis/redis_url.h"
#include "worker/uv/uv_dispatcher.h"

struct redisAsyncContext;

namespace celeriac::worker::redis {

struct RedisSharedBucketStoreOptions {
  std::chrono::milliseconds command_timeout{250};  // on the call path: keep it short
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

  [[nodiscard]] bool available() const { return connected_; }
  [[nodiscard]] std::size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    std::string mode;  // "reserve" | "adjust"
    std::vector<balancer::SharedBucketSpec> buckets;
    std::function<void(balancer::SharedReserveResult)> done;
    std::uint64_t deadline_ms = 0;  // uv_now() based
    bool retried_with_eval = false;
  };
  struct Fns;  // the noexcept C trampolines (defined in the .cc)
  friend struct Fns;

  void run(std::string mode, std::vector<balancer::SharedBucketSpec> buckets,
           std::function<void(balancer::SharedReserveResult)> done);
  bool sendScript(std::uint64_t seq, const Pending& p, bool use_eval);
  void onReply(std::uint64_t seq, void* reply);
  void onConnect(int status, const std::string& reason);
  void onDisconnect(const std::string& reason);
  void onScriptLoaded(void* reply);
  // Resolves the host off the loop (host_resolver.h), then connectTo() the address.
  void connect();
  void connectTo(const std::string& address);
  void dropConnection(const std::string& reason);
  void scheduleReconnect();
  void watchdog();
  void failAllPending();
  void unavailableLater(std::function<void(balancer::SharedReserveResult)> done);
  void notifyUnavailable(const std::string& reason);

  uv::UvDispatcher& dispatcher_;
  RedisUrl url_;
  RedisSharedBucketStoreOptions options_;
  Callbacks callbacks_;
  std::string script_;
  std::string sha_;  // from SCRIPT LOAD; empty until loaded (EVAL meanwhile)
  redisAsyncContext* ctx_ = nullptr;
  bool started_ = false;
  bool connected_ = false;
  bool closed_ = false;
  std::uint64_t connect_started_ms_ = 0;
  std::uint64_t next_seq_ = 1;
  std::map<std::uint64_t, Pending> pending_;  // by seq: oldest first
  std::chrono::milliseconds backoff_;
  uv_timer_t* reconnect_timer_;
  uv_timer_t* watchdog_timer_;
  HostResolver resolver_{dispatcher_.loop()};
  std::shared_ptr<RedisSharedBucketStore*> alive_;
};

}  // namespace celeriac::worker::redis
