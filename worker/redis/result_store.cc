#include "worker/redis/result_store.h"

#include <algorithm>

namespace celeriac::worker::redis {

namespace {

// KEYS[1] = celery-task-meta-<id>; ARGV[1] = document; ARGV[2] = ttl seconds (0 = none).
// Celery's backend does GET, then MULTI/SETEX/PUBLISH/EXEC, and refuses to overwrite
// a SUCCESS. One script does the same atomically in one round trip.
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

RedisConnectionOptions connectionOptions(const ResultStoreOptions& options) {
  RedisConnectionOptions out;
  out.command_timeout = options.command_timeout;
  out.connect_timeout = options.connect_timeout;
  out.backoff_min = options.backoff_min;
  out.backoff_max = options.backoff_max;
  return out;
}

}  // namespace

ResultStore::ResultStore(uv_loop_t* loop, RedisUrl url, ResultStoreOptions options,
                         Callbacks callbacks)
    : callbacks_(std::move(callbacks)),
      result_expires_(options.result_expires),
      retry_timer_(uv::makeHandle<uv_timer_t>(loop, this)),
      connection_(loop, std::move(url), connectionOptions(options),
                  RedisConnection::Callbacks{[this] { onConnected(); },
                                             [this](const std::string& reason) {
                                               if (callbacks_.on_unavailable) {
                                                 callbacks_.on_unavailable(reason);
                                               }
                                             }}) {}

ResultStore::~ResultStore() { close(); }

void ResultStore::start() { connection_.start(); }

void ResultStore::close() {
  connection_.close();
  uv_timer_stop(retry_timer_.get());
}

void ResultStore::store(std::string key, std::string document, std::function<void()> done) {
  Write w;
  w.script = &kStoreScript;
  w.keys = {std::move(key)};
  w.args = {std::move(document), std::to_string(result_expires_.count())};
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
  const std::uint64_t seq = next_seq_++;
  if (connection_.connected() && !retry_pending_ && queued_.empty() && send(seq, w)) return;
  queued_.emplace(seq, std::move(w));
}

void ResultStore::flushQueue() {
  while (connection_.connected() && !retry_pending_ && !queued_.empty()) {
    auto oldest = queued_.begin();
    if (!send(oldest->first, oldest->second)) return;
    queued_.erase(oldest);
  }
}

// When sent, `write` moves to `in_flight_` until Redis confirms it (the connection got a
// copy), and goes back to the queue if the connection is lost first.
bool ResultStore::send(std::uint64_t seq, Write& write) {
  auto reply = [this, seq](std::optional<RedisValue> value) { onReply(seq, std::move(value)); };
  const bool sent = write.script != nullptr
                        ? connection_.runScript(*write.script, write.keys, write.args, reply)
                        : connection_.command({"DEL", write.keys.at(0)}, reply);
  if (sent) in_flight_.emplace(seq, std::move(write));
  return sent;
}

void ResultStore::onReply(std::uint64_t seq, std::optional<RedisValue> reply) {
  auto it = in_flight_.find(seq);
  if (it == in_flight_.end()) return;
  if (!reply) {
    // The connection went away: sent again, in its place, once reconnected.
    queued_.insert(in_flight_.extract(it));
    return;
  }
  if (reply->type == RedisValue::Type::kError) {
    // Keep the write and send the queue again after a backoff; never report it stored.
    queued_.insert(in_flight_.extract(it));
    retryLater();
    if (callbacks_.on_unavailable) callbacks_.on_unavailable("write refused: " + reply->str);
    return;
  }
  Write done = std::move(it->second);
  in_flight_.erase(it);
  if (done.done) done.done(*reply);
}

void ResultStore::onConnected() {
  // A retry that was waiting is moot: everything queued goes now.
  retry_pending_ = false;
  uv_timer_stop(retry_timer_.get());
  flushQueue();
  if (callbacks_.on_connected) callbacks_.on_connected();
}

void ResultStore::retryLater() {
  if (retry_pending_) return;
  retry_pending_ = true;
  uv_timer_start(
      retry_timer_.get(),
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<ResultStore*>(t->data);
        self->retry_pending_ = false;
        self->flushQueue();
      },
      static_cast<std::uint64_t>(connection_.nextBackoff().count()), 0);
}

}  // namespace celeriac::worker::redis
