#include "worker/redis/redis_shared_bucket_store.h"

namespace celeriac::worker::redis {

using balancer::SharedBucketSpec;
using balancer::SharedReserveResult;

namespace {

const RedisScript kSharedBucketScript{std::string(balancer::kSharedBucketScript)};

SharedReserveResult unavailable() {
  SharedReserveResult r;
  r.status = SharedReserveResult::Status::kUnavailable;
  return r;
}

RedisConnectionOptions connectionOptions(const RedisSharedBucketStoreOptions& options) {
  RedisConnectionOptions out;
  out.command_timeout = options.command_timeout;
  out.connect_timeout = options.connect_timeout;
  out.backoff_min = options.backoff_min;
  out.backoff_max = options.backoff_max;
  // On the call path: the first reserve after a connect finds the script cached.
  out.preload = {&kSharedBucketScript};
  return out;
}

// {1, 0, grant} when applied, {0, wait_ms} when refused (kSharedBucketScript).
SharedReserveResult decode(const RedisValue& reply) {
  SharedReserveResult result = unavailable();
  if (reply.type != RedisValue::Type::kArray || reply.elements.size() < 2 ||
      reply.elements[0].type != RedisValue::Type::kInteger ||
      reply.elements[1].type != RedisValue::Type::kInteger) {
    return result;
  }
  if (reply.elements[0].integer == 1) {
    result.status = SharedReserveResult::Status::kReserved;
    if (reply.elements.size() >= 3 && reply.elements[2].type == RedisValue::Type::kString) {
      result.grant = reply.elements[2].str;
    }
  } else {
    result.status = SharedReserveResult::Status::kRefused;
    result.retry_after = std::chrono::milliseconds(reply.elements[1].integer);
  }
  return result;
}

}  // namespace

RedisSharedBucketStore::RedisSharedBucketStore(uv::UvDispatcher& dispatcher, RedisUrl url,
                                               RedisSharedBucketStoreOptions options,
                                               Callbacks callbacks)
    : dispatcher_(dispatcher),
      callbacks_(std::move(callbacks)),
      connection_(dispatcher.loop(), std::move(url), connectionOptions(options),
                  RedisConnection::Callbacks{
                      [this] {
                        if (callbacks_.on_available) callbacks_.on_available();
                      },
                      [this](const std::string& reason) { notifyUnavailable(reason); }}) {}

RedisSharedBucketStore::~RedisSharedBucketStore() { close(); }

void RedisSharedBucketStore::start() { connection_.start(); }

void RedisSharedBucketStore::close() {
  connection_.close();
  // Callbacks of earlier calls, pending or already posted, are dropped; calls made
  // after close() get kUnavailable through the new life.
  lifetime_.renew();
  pending_.clear();
}

void RedisSharedBucketStore::reserve(std::vector<SharedBucketSpec> buckets, Done done) {
  run("reserve", buckets, std::move(done));
}

void RedisSharedBucketStore::adjust(std::vector<SharedBucketSpec> buckets, Done done) {
  run("adjust", buckets, std::move(done));
}

void RedisSharedBucketStore::run(const std::string& mode,
                                 const std::vector<SharedBucketSpec>& buckets, Done done) {
  if (!connection_.canSend()) {  // not started, closed, or backing off: answer now
    unavailableLater(std::move(done));
    return;
  }
  // KEYS: the buckets' keys; ARGV: balancer::sharedScriptArgv(). While connecting,
  // hiredis buffers the command and writes it once connected.
  std::vector<std::string> keys;
  keys.reserve(buckets.size());
  for (const SharedBucketSpec& b : buckets) keys.push_back(b.key);
  const std::uint64_t seq = next_seq_++;
  const bool sent = connection_.runScript(
      kSharedBucketScript, std::move(keys), balancer::sharedScriptArgv(mode, buckets),
      [this, seq](std::optional<RedisValue> reply) { onReply(seq, std::move(reply)); });
  if (!sent) {
    unavailableLater(std::move(done));
    return;
  }
  pending_.emplace(seq, std::move(done));
}

void RedisSharedBucketStore::onReply(std::uint64_t seq, std::optional<RedisValue> reply) {
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  Done done = std::move(it->second);
  pending_.erase(it);
  if (!reply) {
    // The connection went (dropped, timed out): posted, so no user code runs while
    // hiredis is tearing the context down.
    unavailableLater(std::move(done));
    return;
  }
  if (reply->type == RedisValue::Type::kError) {
    // OOM, READONLY, BUSY, NOSCRIPT again...: Redis cannot take it; fall back locally.
    notifyUnavailable("script refused: " + reply->str);
    if (done) done(unavailable());
    return;
  }
  if (done) done(decode(*reply));  // may call reserve/adjust/close: all safe inside a reply
}

void RedisSharedBucketStore::unavailableLater(Done done) {
  if (!done) return;
  dispatcher_.post(lifetime_.guard([cb = std::move(done)] { cb(unavailable()); }));
}

void RedisSharedBucketStore::notifyUnavailable(const std::string& reason) {
  if (callbacks_.on_unavailable) callbacks_.on_unavailable(reason);
}

}  // namespace celeriac::worker::redis
