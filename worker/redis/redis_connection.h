#pragma once
// RedisConnection: one hiredis async connection on the libuv loop, kept up for its owner.
//
// What for: the single Redis client under ResultStore (writes retried until Redis
// confirms them) and RedisSharedBucketStore (answers "unavailable" at once instead). It
//   - resolves the host off the loop (host_resolver.h) and connects to the address;
//   - sends AUTH and SELECT (from the URL), then SCRIPT LOAD of `preload`, first on every
//     connection, before any command of the owner (their replies are not read);
//   - bounds connecting (connect_timeout) and every command (command_timeout) with one
//     watchdog timer armed for the nearest deadline; a command is judged late only
//     after one poll phase past its deadline (after a busy loop turn its reply may be
//     waiting unread on the socket). hiredis 0.14 has no async command
//     timeout, and its libuv adapter drops poll errors (adapters/libuv.h:
//     `if (status != 0) return;`), so a refused non-blocking connect may never call back;
//   - reconnects with jittered exponential backoff (backoff_min..backoff_max), for ever;
//   - runs scripts by SHA-1 (EVALSHA) and sends the source (EVAL) once after Redis
//     answers NOSCRIPT (a restart, SCRIPT FLUSH, a failover; redis_script.h).
// What not: no queueing and no retrying of commands: the owners decide (ResultStore
// queues and sends again, the bucket store answers kUnavailable). No pub/sub.
//
//   +------+ start()/backoff timer +------------+ connect cb ok +-----------+
//   | IDLE | --------------------> | CONNECTING | ------------> | CONNECTED |
//   +------+                       +------------+               +-----------+
//      ^    resolve/connect error, connect timeout |                   |
//      +-------------------------------------------+-------------------+
//              disconnect, command timeout: every command sent is lost
//
// Callbacks: a command's `done` fires exactly once, on the loop, never inside the call
// that sent it: with the reply (an error reply too, as RedisValue::Type::kError), or
// with nullopt when the connection went away first (the command may or may not have
// run). When the connection goes, the lost commands are answered oldest first, then
// on_unavailable fires; the reconnect is already scheduled. Every callback may send,
// close() or destroy the connection; close() and destruction drop every callback not
// yet called. on_connected comes one loop turn after hiredis connected (never from
// inside hiredis's connect callback), and not at all if the connection went first.
// Ownership: loop thread only. Owns the hiredis context and its timers (HandlePtr);
// hiredis's late calls after a drop find nothing (the context's data is cleared first).

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/lifetime_token.h"
#include "worker/redis/host_resolver.h"
#include "worker/redis/redis_script.h"
#include "worker/redis/redis_url.h"
#include "worker/uv/uv_handle.h"

struct redisAsyncContext;

namespace celeriac::worker::redis {

struct RedisConnectionOptions {
  std::chrono::milliseconds command_timeout{5000};
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  // Loaded on every connection, so the first EVALSHA of a call path does not pay a
  // NOSCRIPT round trip. The scripts must outlive the connection (statics).
  std::vector<const RedisScript*> preload{};
};

class RedisConnection {
 public:
  struct Callbacks {
    std::function<void()> on_connected;
    std::function<void(const std::string& reason)> on_unavailable;  // safe to log
  };
  // The reply, or nullopt: the connection went away before one came.
  using Done = std::function<void(std::optional<RedisValue> reply)>;

  RedisConnection(uv_loop_t* loop, RedisUrl url, RedisConnectionOptions options,
                  Callbacks callbacks);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects, and keeps reconnecting until close(). Once only.
  void start();
  // Disconnects for good; no callback fires after it.
  void close();

  // Sends one command. False, with `done` dropped uncalled, when it cannot be sent: no
  // connection (not started, backing off between attempts, closed) or hiredis refused.
  [[nodiscard]] bool command(const std::vector<std::string>& argv, Done done);
  // Runs `script` (EVALSHA; EVAL once after NOSCRIPT) with these keys and args, as
  // command() does. `script` must outlive the call (a static).
  [[nodiscard]] bool runScript(const RedisScript& script, std::vector<std::string> keys,
                               std::vector<std::string> args, Done done);

  // Connecting or connected: command() hands the command to hiredis, which sends it
  // once connected.
  [[nodiscard]] bool canSend() const { return ctx_ != nullptr; }
  [[nodiscard]] bool connected() const { return connected_; }
  // The next jittered backoff delay (backoff_min..the current bound, which then
  // doubles up to backoff_max; a connection resets it). For owners that wait before
  // trying again after Redis refused a command.
  [[nodiscard]] std::chrono::milliseconds nextBackoff();

 private:
  // A command sent and not answered yet. `script` is null for a plain command.
  struct Pending {
    const RedisScript* script = nullptr;
    std::vector<std::string> keys{};
    std::vector<std::string> args{};
    bool with_source = false;       // Redis said NOSCRIPT: the source went (EVAL)
    std::uint64_t deadline_ms = 0;  // uv_now() based
    Done done{};
  };
  struct Fns;  // the noexcept C trampolines for hiredis and libuv (in the .cc)
  friend struct Fns;

  bool send(std::vector<std::string> argv, Pending pending);
  bool write(std::uint64_t seq, const std::vector<std::string>& argv);
  void onReply(std::uint64_t seq, void* reply);
  void connect();
  void connectTo(const std::string& address);
  void onConnect(bool ok, const std::string& reason);
  redisAsyncContext* detach();
  void drop(const std::string& reason);
  void linkLost(const std::string& reason);
  void scheduleReconnect();
  void armWatchdog();
  void onWatchdog();

  uv_loop_t* loop_;
  RedisUrl url_;
  RedisConnectionOptions options_;
  Callbacks callbacks_;
  redisAsyncContext* ctx_ = nullptr;
  bool started_ = false;
  bool connected_ = false;
  bool closed_ = false;
  std::uint64_t connect_started_ms_ = 0;
  std::uint64_t next_seq_ = 1;
  std::map<std::uint64_t, Pending> pending_;  // by seq: the oldest (first deadline) first
  // The command whose deadline the watchdog found past, and gave one poll phase before
  // judging it (0: none; seqs start at 1).
  std::uint64_t polled_for_seq_ = 0;
  std::chrono::milliseconds backoff_;
  uv::HandlePtr<uv_timer_t> reconnect_timer_;
  uv::HandlePtr<uv_timer_t> watchdog_timer_;
  uv::HandlePtr<uv_timer_t> connected_timer_;  // tells on_connected from the loop
  HostResolver resolver_{loop_};
  // Lets a loop of callbacks see that one of them destroyed the connection.
  common::LifetimeToken lifetime_;
};

}  // namespace celeriac::worker::redis
