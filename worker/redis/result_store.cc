#include "worker/redis/result_store.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <random>
#include <vector>

#include "worker/uv/uv_handle.h"

namespace celeriac::worker::redis {

namespace {

// KEYS[1] = celery-task-meta-<id>; ARGV[1] = document; ARGV[2] = ttl seconds (0 = none).
// Celery's backend does GET, then MULTI/SETEX/PUBLISH/EXEC, and refuses to overwrite
// a SUCCESS (spec 3.4). One script does the same atomically in one round trip.
const RedisScript kStoreScript(R"lua(
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and doc['status'] == 'SUCCESS' then return 0 end
end
local ttl = tonumber(ARGV[2])
if ttl and ttl > 0 then
  redis.call('SETEX', KEYS[1], ttl, ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
)lua");

// KEYS[1] = celeriac-redelivered-starts-<id>; ARGV[1] = ttl seconds. One more start of
// a redelivered message; the count lives as long as a result would.
const RedisScript kCountStartScript(R"lua(
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return n
)lua");

// KEYS[1] = celeriac-keyset-lease:<set>; ARGV[1] = owner; ARGV[2] = ttl ms.
const RedisScript kRenewLeaseScript(R"lua(
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 2
end
return 0
)lua");

void* seqToPrivdata(std::uint64_t seq) { return reinterpret_cast<void*>(static_cast<std::uintptr_t>(seq)); }
std::uint64_t privdataToSeq(void* p) { return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p)); }

}  // namespace

ResultStore::ResultStore(uv_loop_t* loop, RedisUrl url, ResultStoreOptions options,
                         Callbacks callbacks)
    : loop_(loop),
      url_(std::move(url)),
      options_(options),
      callbacks_(std::move(callbacks)),
      backoff_(options_.backoff_min),
      reconnect_timer_(new uv_timer_t),
      watchdog_timer_(new uv_timer_t) {
  uv_timer_init(loop_, reconnect_timer_);
  reconnect_timer_->data = this;
  uv_timer_init(loop_, watchdog_timer_);
  watchdog_timer_->data = this;
}

ResultStore::~ResultStore() {
  close();
  uv::closeAndDelete(reconnect_timer_);
  uv::closeAndDelete(watchdog_timer_);
}

void ResultStore::start() {
  const auto period = static_cast<std::uint64_t>(
      std::max<std::int64_t>(100, options_.command_timeout.count() / 4));
  uv_timer_start(
      watchdog_timer_, [](uv_timer_t* t) noexcept { static_cast<ResultStore*>(t->data)->watchdog(); },
      period, period);
  connect();
}

void ResultStore::connect() {
  connect_started_ms_ = uv_now(loop_);
  if (HostResolver::isNumeric(url_.host)) {
    connectTo(url_.host);
    return;
  }
  const std::string error =
      resolver_.resolve(url_.host, [this](std::string address, std::string reason) {
        if (closed_) return;
        if (address.empty()) {
          if (callbacks_.on_unavailable) callbacks_.on_unavailable(reason);
          scheduleReconnect();
          return;
        }
        connectTo(address);
      });
  if (!error.empty()) {
    if (callbacks_.on_unavailable) callbacks_.on_unavailable(error);
    scheduleReconnect();
  }
}

void ResultStore::connectTo(const std::string& address) {
  // A numeric address: hiredis connects without a blocking lookup.
  ctx_ = redisAsyncConnect(address.c_str(), url_.port);
  if (ctx_ == nullptr || ctx_->err != 0) {
    const std::string reason = ctx_ != nullptr ? ctx_->errstr : "out of memory";
    if (ctx_ != nullptr) redisAsyncFree(ctx_);
    ctx_ = nullptr;
    if (callbacks_.on_unavailable) callbacks_.on_unavailable(reason);
    scheduleReconnect();
    return;
  }
  ctx_->data = this;
  redisLibuvAttach(ctx_, loop_);
  redisAsyncSetConnectCallback(ctx_, [](const redisAsyncContext* c, int status) {
    static_cast<ResultStore*>(c->data)->onConnect(status);
  });
  redisAsyncSetDisconnectCallback(ctx_, [](const redisAsyncContext* c, int status) {
    auto* self = static_cast<ResultStore*>(c->data);
    self->onDisconnect(status == REDIS_OK ? "disconnected" : c->errstr);
  });
  // AUTH and SELECT are queued before any write, so they go first on the wire.
  if (!url_.password.empty()) {
    if (url_.username.empty()) {
      redisAsyncCommand(ctx_, nullptr, nullptr, "AUTH %b", url_.password.data(),
                        url_.password.size());
    } else {
      redisAsyncCommand(ctx_, nullptr, nullptr, "AUTH %b %b", url_.username.data(),
                        url_.username.size(), url_.password.data(), url_.password.size());
    }
  }
  if (url_.db != 0) redisAsyncCommand(ctx_, nullptr, nullptr, "SELECT %d", url_.db);
}

void ResultStore::onConnect(int status) {
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    const std::string reason = ctx_ != nullptr ? ctx_->errstr : "connect failed";
    ctx_ = nullptr;
    connected_ = false;
    if (callbacks_.on_unavailable) callbacks_.on_unavailable(reason);
    if (!closed_) scheduleReconnect();
    return;
  }
  connected_ = true;
  backoff_ = options_.backoff_min;
  if (callbacks_.on_connected) callbacks_.on_connected();
  flushQueue();
}

void ResultStore::onDisconnect(const std::string& reason) {
  // hiredis already called every pending reply callback with NULL (requeued there)
  // and frees the context after this callback.
  ctx_ = nullptr;
  const bool was_connected = connected_;
  connected_ = false;
  requeueInFlight();
  if (closed_) return;
  if (was_connected && callbacks_.on_unavailable) callbacks_.on_unavailable(reason);
  scheduleReconnect();
}

void ResultStore::scheduleReconnect() {
  if (closed_) return;
  static thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<long> pick(options_.backoff_min.count(), backoff_.count());
  const auto delay = static_cast<std::uint64_t>(pick(rng));
  backoff_ = std::min(options_.backoff_max, backoff_ * 2);
  uv_timer_start(
      reconnect_timer_,
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<ResultStore*>(t->data);
        if (self->closed_) return;
        if (self->ctx_ == nullptr) {
          self->connect();
        } else if (self->connected_) {
          self->retry_pending_ = false;
          self->flushQueue();
        }
      },
      delay, 0);
}

void ResultStore::store(std::string key, std::string document, std::function<void()> done) {
  Write w;
  w.script = &kStoreScript;
  w.keys = {std::move(key)};
  w.args = {std::move(document), std::to_string(options_.result_expires.count())};
  if (done) w.done = [done = std::move(done)](const RedisValue&) { done(); };
  enqueue(std::move(w));
}

void ResultStore::countStart(std::string key, std::chrono::seconds ttl,
                             std::function<void(long long)> done) {
  Write w;
  w.script = &kCountStartScript;
  w.keys = {std::move(key)};
  w.args = {std::to_string(std::max<long long>(1, ttl.count()))};
  if (done) w.done = [done = std::move(done)](const RedisValue& v) { done(v.integer); };
  enqueue(std::move(w));
}

void ResultStore::renewLease(std::string key, std::string owner, std::chrono::milliseconds ttl,
                             std::function<void(long long)> done) {
  Write w;
  w.script = &kRenewLeaseScript;
  w.keys = {std::move(key)};
  w.args = {std::move(owner), std::to_string(std::max<long long>(1, ttl.count()))};
  if (done) w.done = [done = std::move(done)](const RedisValue& v) { done(v.integer); };
  enqueue(std::move(w));
}

void ResultStore::runScript(const RedisScript& script, std::vector<std::string> keys,
                            std::vector<std::string> args,
                            std::function<void(const RedisValue&)> done) {
  Write w;
  w.script = &script;
  w.keys = std::move(keys);
  w.args = std::move(args);
  w.done = std::move(done);
  enqueue(std::move(w));
}

void ResultStore::forget(std::string key) {
  Write w;
  w.keys = {std::move(key)};
  enqueue(std::move(w));
}

void ResultStore::enqueue(Write w) {
  w.seq = next_seq_++;
  if (connected_ && !retry_pending_ && queued_.empty()) {
    send(std::move(w));
  } else {
    queued_.push_back(std::move(w));
  }
}

void ResultStore::flushQueue() {
  while (connected_ && !queued_.empty()) {
    Write w = std::move(queued_.front());
    queued_.pop_front();
    send(std::move(w));
  }
}

void ResultStore::send(Write write) {
  const std::uint64_t seq = write.seq;
  write.sent_at_ms = uv_now(loop_);
  Write& w = in_flight_.emplace(seq, std::move(write)).first->second;
  const std::vector<std::string> command =
      w.script != nullptr ? scriptCommand(*w.script, w.with_source, w.keys, w.args)
                          : std::vector<std::string>{"DEL", w.keys.at(0)};
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& part : command) {
    argv.push_back(part.data());
    lens.push_back(part.size());
  }
  // hiredis formats the command into its output buffer here, so `command` may go.
  const int rc = redisAsyncCommandArgv(
      ctx_,
      [](redisAsyncContext* c, void* reply, void* privdata) {
        static_cast<ResultStore*>(c->data)->onReply(privdataToSeq(privdata), reply);
      },
      seqToPrivdata(seq), static_cast<int>(argv.size()), argv.data(), lens.data());
  if (rc != REDIS_OK) {
    // The context is disconnecting; the write goes back to the queue.
    auto it = in_flight_.find(seq);
    queued_.push_front(std::move(it->second));
    in_flight_.erase(it);
  }
}

void ResultStore::onReply(std::uint64_t seq, void* raw_reply) {
  auto it = in_flight_.find(seq);
  if (it == in_flight_.end()) return;  // already requeued by the watchdog
  auto* reply = static_cast<redisReply*>(raw_reply);
  if (reply == nullptr) return;  // disconnecting: requeueInFlight() takes it back
  if (isNoScript(reply) && it->second.script != nullptr && !it->second.with_source) {
    // Redis lost its script cache (restart, SCRIPT FLUSH, failover): send the source
    // once, which caches it again for the next EVALSHA.
    Write again = std::move(it->second);
    in_flight_.erase(it);
    again.with_source = true;
    send(std::move(again));
    return;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    // OOM, READONLY (failover in progress), LOADING, NOAUTH...: keep the write and
    // try again after a backoff; never report it stored.
    const std::string reason(reply->str, reply->len);
    queued_.push_front(std::move(it->second));
    in_flight_.erase(it);
    if (callbacks_.on_unavailable) callbacks_.on_unavailable("write refused: " + reason);
    if (!retry_pending_) {
      retry_pending_ = true;
      scheduleReconnect();
    }
    return;
  }
  Write done = std::move(it->second);
  in_flight_.erase(it);
  if (done.done) done.done(copyReply(reply));
}

void ResultStore::requeueInFlight() {
  // Older writes go back in front of newer queued ones, keeping per-key order.
  std::vector<Write> back;
  back.reserve(in_flight_.size());
  for (auto& [seq, w] : in_flight_) back.push_back(std::move(w));
  in_flight_.clear();
  for (auto it = back.rbegin(); it != back.rend(); ++it) queued_.push_front(std::move(*it));
}

void ResultStore::watchdog() {
  if (ctx_ == nullptr) return;
  if (!connected_) {
    if (uv_now(loop_) - connect_started_ms_ < static_cast<std::uint64_t>(options_.connect_timeout.count())) return;
    // Not connected in time (see the header: a refused connect may never call back).
    // Freeing an unconnected context calls no disconnect callback.
    redisAsyncContext* ctx = ctx_;
    ctx_ = nullptr;
    redisAsyncFree(ctx);
    if (callbacks_.on_unavailable) callbacks_.on_unavailable("connect timed out or was refused");
    scheduleReconnect();
    return;
  }
  if (in_flight_.empty()) return;
  const std::uint64_t oldest = in_flight_.begin()->second.sent_at_ms;
  if (uv_now(loop_) - oldest < static_cast<std::uint64_t>(options_.command_timeout.count())) return;
  // Redis stopped answering: drop the connection; hiredis calls every pending reply
  // callback with NULL, then the disconnect callback, which reconnects.
  redisAsyncContext* ctx = ctx_;
  redisAsyncFree(ctx);
}

void ResultStore::close() {
  if (closed_) return;
  closed_ = true;
  uv_timer_stop(reconnect_timer_);
  uv_timer_stop(watchdog_timer_);
  if (ctx_ != nullptr) {
    redisAsyncContext* ctx = ctx_;
    ctx_ = nullptr;
    redisAsyncFree(ctx);
  }
  connected_ = false;
}

}  // namespace celeriac::worker::redis
