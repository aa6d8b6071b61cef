#pragma once
// ResultStore: writes Celery result documents to Redis (hiredis async on libuv).
//
// Each write is ONE atomic script, sent as EVALSHA (the source only after Redis answers
// NOSCRIPT; redis_script.h), and runScript() runs other scripts the same way (the chord
// part, chord_store.h): skip if the stored document is already SUCCESS
// (Celery's dedupe guard, spec 3.4), then SETEX (or SET when ttl is 0) and PUBLISH
// the same text on the key's channel. PUBLISH is what wakes AsyncResult.get()
// (spec 3.4: without it, get() hangs until timeout).
//
// A write is retried until Redis confirms it: on disconnect, error reply or command
// timeout (hiredis 0.14 has no async command timeout, so a watchdog timer enforces
// one), the write goes back to the queue and the store reconnects with jittered
// backoff. The watchdog also bounds connecting: hiredis 0.14's libuv adapter drops
// poll errors (adapters/libuv.h: `if (status != 0) return;`), so a refused
// non-blocking connect would otherwise never call back. Writes for one key keep their order. `done` fires exactly once, on the
// loop thread, after Redis replied, never inside store(). Nothing is ever dropped
// except by close(), after which callbacks never fire.
// Loop thread only.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "worker/redis/host_resolver.h"
#include "worker/redis/redis_script.h"
#include "worker/redis/redis_url.h"

struct redisAsyncContext;

namespace celeriac::worker::redis {

struct ResultStoreOptions {
  std::chrono::seconds result_expires{86400};  // 0: keep forever (SET, no TTL)
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

  [[nodiscard]] bool connected() const { return connected_; }
  // Writes accepted but not yet confirmed by Redis.
  [[nodiscard]] std::size_t backlog() const { return queued_.size() + in_flight_.size(); }

 private:
  // One command: DEL `keys[0]` when script is null, else the script call.
  struct Write {
    std::uint64_t seq = 0;
    const RedisScript* script = nullptr;
    std::vector<std::string> keys{};
    std::vector<std::string> args{};
    std::function<void(const RedisValue&)> done{};
    std::uint64_t sent_at_ms = 0;
    bool with_source = false;  // Redis said NOSCRIPT: send the source (EVAL)
  };
  void enqueue(Write write);

  // Resolves the host off the loop (host_resolver.h), then connectTo() the address.
  void connect();
  void connectTo(const std::string& address);
  void onConnect(int status);
  void onDisconnect(const std::string& reason);
  void onReply(std::uint64_t seq, void* reply);
  void send(Write write);
  void flushQueue();
  void scheduleReconnect();
  void requeueInFlight();
  void watchdog();

  uv_loop_t* loop_;
  RedisUrl url_;
  ResultStoreOptions options_;
  Callbacks callbacks_;
  redisAsyncContext* ctx_ = nullptr;
  bool connected_ = false;
  bool closed_ = false;
  bool retry_pending_ = false;
  std::uint64_t next_seq_ = 1;
  std::uint64_t connect_started_ms_ = 0;
  std::deque<Write> queued_;
  std::map<std::uint64_t, Write> in_flight_;
  std::chrono::milliseconds backoff_;
  uv_timer_t* reconnect_timer_;
  uv_timer_t* watchdog_timer_;
  HostResolver resolver_{loop_};
};

}  // namespace celeriac::worker::redis
