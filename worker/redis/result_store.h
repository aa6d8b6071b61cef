#pragma once
// ResultStore: writes Celery result documents to Redis, over one RedisConnection
// (redis_connection.h: connecting, AUTH/SELECT, timeouts, reconnects, EVALSHA).
//
// Each write is ONE atomic script, and runScript() runs other scripts the same way (the
// chord part, chord_store.h): skip if the stored document is already SUCCESS
// (Celery's dedupe guard, as its backend's GET before MULTI), then SETEX (or SET when
// ttl is 0) and PUBLISH the same text on the key's channel. PUBLISH is what wakes
// AsyncResult.get() (without it, get() hangs until its timeout).
//
// A write is retried until Redis confirms it: when the connection drops or a command
// times out, the write goes back to the queue in its place (writes are sent oldest
// first, so writes for one key keep their order) and goes again once reconnected; an
// error reply (OOM, READONLY during a failover, LOADING, NOAUTH...) sends the queue
// again after a jittered backoff. `done` fires exactly once, on the loop thread, after
// Redis replied, never inside store(). Nothing is ever dropped except by close(), after
// which callbacks never fire.
// Loop thread only.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/worker_defaults.h"
#include "worker/redis/redis_connection.h"
#include "worker/redis/redis_script.h"
#include "worker/redis/redis_url.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::redis {

struct ResultStoreOptions {
  std::chrono::seconds result_expires = common::kDefaultResultExpires;  // 0: forever (SET)
  std::chrono::milliseconds command_timeout{5000};
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
};

class ResultStore {
 public:
  struct Callbacks {
    std::function<void()> on_connected;
    std::function<void(const std::string& reason)> on_unavailable;  // safe to log
  };

  ResultStore(uv_loop_t* loop, RedisUrl url, ResultStoreOptions options, Callbacks callbacks);
  ~ResultStore();
  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  void start();
  void close();

  void store(std::string key, std::string document, std::function<void()> done);
  // Poison detection (TaskPipeline): INCR `key` and keep it for `ttl`; `done(count)`
  // with the count after the increment. Retried like a write.
  void countStart(std::string key, std::chrono::seconds ttl, std::function<void(long long)> done);
  // DEL `key`, retried like a write; nothing to wait for.
  void forget(std::string key);
  // Key-set leases (key_set_lease.h): keeps `key` = `owner` alive for `ttl`, taking it
  // again if it expired and nobody else took it. `done(1)` renewed, `done(2)` taken
  // again, `done(0)` another owner holds it. Retried like a write.
  void renewLease(std::string key, std::string owner, std::chrono::milliseconds ttl,
                  std::function<void(long long)> done);

  // Runs `script` (EVALSHA, EVAL after NOSCRIPT) with these keys and args, retried like
  // a write until Redis answers; `done` gets the reply (never an error reply: those are
  // retried). The script must be safe to run twice (a reply lost in a disconnect).
  // `script` must outlive the call (a static).
  void runScript(const RedisScript& script, std::vector<std::string> keys,
                 std::vector<std::string> args, std::function<void(const RedisValue&)> done);

  [[nodiscard]] bool connected() const { return connection_.connected(); }
  // Writes accepted but not yet confirmed by Redis.
  [[nodiscard]] std::size_t backlog() const { return queued_.size() + in_flight_.size(); }

 private:
  // One command: DEL `keys[0]` when script is null, else the script call.
  struct Write {
    const RedisScript* script = nullptr;
    std::vector<std::string> keys{};
    std::vector<std::string> args{};
    std::function<void(const RedisValue&)> done{};
  };
  void enqueue(Write write);
  void flushQueue();
  bool send(std::uint64_t seq, Write& write);
  void onReply(std::uint64_t seq, std::optional<RedisValue> reply);
  void onConnected();
  void retryLater();

  Callbacks callbacks_;
  std::chrono::seconds result_expires_;
  std::uint64_t next_seq_ = 1;
  // By seq, so a write that goes back to the queue keeps its place among the others.
  std::map<std::uint64_t, Write> queued_;
  std::map<std::uint64_t, Write> in_flight_;
  bool retry_pending_ = false;  // Redis refused a write: the queue waits for retry_timer_
  uv::HandlePtr<uv_timer_t> retry_timer_;
  // Last: destroyed first, so no callback of it finds the queues gone.
  RedisConnection connection_;
};

}  // namespace celeriac::worker::redis
