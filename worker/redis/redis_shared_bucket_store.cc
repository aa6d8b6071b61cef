#include "worker/redis/redis_shared_bucket_store.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <random>
#include <string_view>

#include "worker/uv/uv_handle.h"

namespace celeriac::worker::redis {

using balancer::SharedBucketSpec;
using balancer::SharedReserveResult;

namespace {

void* seqToPrivdata(std::uint64_t seq) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(seq));
}
std::uint64_t privdataToSeq(void* p) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
}

SharedReserveResult unavailable() {
  SharedReserveResult r;
  r.status = SharedReserveResult::Status::kUnavailable;
  return r;
}

}  // namespace

// C trampolines: hiredis and libuv call these; each finds its store through `data`,
// which close() clears before freeing the context, so late calls find nothing.
struct RedisSharedBucketStore::Fns {
  static RedisSharedBucketStore* self(const redisAsyncContext* c) {
    return static_cast<RedisSharedBucketStore*>(c->data);
  }
  static void onReply(redisAsyncContext* c, void* reply, void* privdata) noexcept {
    if (auto* s = self(c)) s->onReply(privdataToSeq(privdata), reply);
  }
  static void onScriptLoaded(redisAsyncContext* c, void* reply, void* /*privdata*/) noexcept {
    if (auto* s = self(c)) s->onScriptLoaded(reply);
  }
  static void onIgnoredReply(redisAsyncContext* /*c*/, void* /*reply*/, void* /*p*/) noexcept {}
  static void onConnect(const redisAsyncContext* c, int status) noexcept {
    if (auto* s = self(c)) s->onConnect(status, c->errstr);
  }
  static void onDisconnect(const redisAsyncContext* c, int status) noexcept {
    if (auto* s = self(c)) s->onDisconnect(status == REDIS_OK ? "disconnected" : c->errstr);
  }
  static void onWatchdog(uv_timer_t* t) noexcept {
    if (auto* s = static_cast<RedisSharedBucketStore*>(t->data)) s->watchdog();
  }
  static void onReconnectTimer(uv_timer_t* t) noexcept {
    auto* s = static_cast<RedisSharedBucketStore*>(t->data);
    if (s != nullptr && !s->closed_ && s->ctx_ == nullptr) s->connect();
  }
};

RedisSharedBucketStore::RedisSharedBucketStore(uv::UvDispatcher& dispatcher, RedisUrl url,
                                               RedisSharedBucketStoreOptions options,
                                               Callbacks callbacks)
    : dispatcher_(dispatcher),
      url_(std::move(url)),
      options_(options),
      callbacks_(std::move(callbacks)),
      script_(balancer::kSharedBucketScript),
      backoff_(options_.backoff_min),
      reconnect_timer_(new uv_timer_t),
      watchdog_timer_(new uv_timer_t),
      alive_(std::make_shared<RedisSharedBucketStore*>(this)) {
  uv_timer_init(dispatcher_.loop(), reconnect_timer_);
  reconnect_timer_->data = this;
  uv_timer_init(dispatcher_.loop(), watchdog_timer_);
  watchdog_timer_->data = this;
}

RedisSharedBucketStore::~RedisSharedBucketStore() {
  close();
  alive_.reset();
  reconnect_timer_->data = nullptr;
  watchdog_timer_->data = nullptr;
  uv::closeAndDelete(reconnect_timer_);
  uv::closeAndDelete(watchdog_timer_);
}

void RedisSharedBucketStore::start() {
  if (started_ || closed_) return;
  started_ = true;
  connect();
}

void RedisSharedBucketStore::close() {
  if (closed_) return;
  closed_ = true;
  // Callbacks of earlier calls, pending or already posted, are dropped; calls made
  // after close() get kUnavailable through the fresh token.
  alive_ = std::make_shared<RedisSharedBucketStore*>(this);
  pending_.clear();
  uv_timer_stop(reconnect_timer_);
  uv_timer_stop(watchdog_timer_);
  if (ctx_ != nullptr) {
    redisAsyncContext* ctx = ctx_;
    ctx_ = nullptr;
    ctx->data = nullptr;  // hiredis's last callbacks (NULL replies, disconnect) see nothing
    redisAsyncFree(ctx);  // deferred by hiredis when called from inside its callback
  }
  connected_ = false;
}

void RedisSharedBucketStore::reserve(std::vector<SharedBucketSpec> buckets,
                                     std::function<void(SharedReserveResult)> done) {
  run("reserve", std::move(buckets), std::move(done));
}

void RedisSharedBucketStore::adjust(std::vector<SharedBucketSpec> buckets,
                                    std::function<void(SharedReserveResult)> done) {
  run("adjust", std::move(buckets), std::move(done));
}

void RedisSharedBucketStore::run(std::string mode, std::vector<SharedBucketSpec> buckets,
                                 std::function<void(SharedReserveResult)> done) {
  if (ctx_ == nullptr) {  // not started, closed, or backing off: answer now
    unavailableLater(std::move(done));
    return;
  }
  const std::uint64_t seq = next_seq_++;
  Pending p{
      std::move(mode), std::move(buckets), std::move(done),
      uv_now(dispatcher_.loop()) + static_cast<std::uint64_t>(options_.command_timeout.count()),
      false};
  // While connecting, hiredis buffers the command and writes it once connected.
  if (!sendScript(seq, p, sha_.empty())) {
    unavailableLater(std::move(p.done));
    return;
  }
  pending_.emplace(seq, std::move(p));
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(watchdog_timer_)) == 0) watchdog();
}

bool RedisSharedBucketStore::sendScript(std::uint64_t seq, const Pending& p, bool use_eval) {
  // EVAL|EVALSHA script|sha numkeys key... then balancer::sharedScriptArgv().
  std::vector<std::string> args;
  args.reserve(4 + 6 * p.buckets.size());
  args.emplace_back(use_eval ? "EVAL" : "EVALSHA");
  args.push_back(use_eval ? script_ : sha_);
  args.push_back(std::to_string(p.buckets.size()));
  for (const SharedBucketSpec& b : p.buckets) args.push_back(b.key);
  for (std::string& a : balancer::sharedScriptArgv(p.mode, p.buckets)) args.push_back(std::move(a));
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  // hiredis copies the arguments into its output buffer before returning.
  return redisAsyncCommandArgv(ctx_, &Fns::onReply, seqToPrivdata(seq),
                               static_cast<int>(argv.size()), argv.data(), lens.data()) == REDIS_OK;
}

void RedisSharedBucketStore::onReply(std::uint64_t seq, void* raw_reply) {
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;  // already answered (timed out)
  auto* reply = static_cast<redisReply*>(raw_reply);
  if (reply == nullptr) {
    // The context is going away; hiredis calls the disconnect callback next. Post, so
    // no user code runs while hiredis is tearing the context down.
    auto done = std::move(it->second.done);
    pending_.erase(it);
    unavailableLater(std::move(done));
    return;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view error(reply->str, reply->len);
    if (error.rfind("NOSCRIPT", 0) == 0 && !it->second.retried_with_eval) {
      // The server lost the script (restart, SCRIPT FLUSH, failover): EVAL reloads it.
      it->second.retried_with_eval = true;
      sha_.clear();
      if (sendScript(seq, it->second, true)) return;
    }
    // OOM, READONLY, BUSY, NOSCRIPT again...: Redis cannot take it; fall back locally.
    auto done = std::move(it->second.done);
    pending_.erase(it);
    notifyUnavailable("script refused: " + std::string(error));
    if (done) done(unavailable());
    return;
  }
  // {1, 0, grant} when applied, {0, wait_ms} when refused (kSharedBucketScript).
  SharedReserveResult result = unavailable();
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
      reply->element[0]->type == REDIS_REPLY_INTEGER &&
      reply->element[1]->type == REDIS_REPLY_INTEGER) {
    if (reply->element[0]->integer == 1) {
      result.status = SharedReserveResult::Status::kReserved;
      if (reply->elements >= 3 && reply->element[2]->type == REDIS_REPLY_STRING) {
        result.grant.assign(reply->element[2]->str, reply->element[2]->len);
      }
    } else {
      result.status = SharedReserveResult::Status::kRefused;
      result.retry_after = std::chrono::milliseconds(reply->element[1]->integer);
    }
  }
  auto done = std::move(it->second.done);
  pending_.erase(it);
  if (done) done(result);  // may call reserve/adjust/close: all safe inside a reply
}

void RedisSharedBucketStore::connect() {
  connect_started_ms_ = uv_now(dispatcher_.loop());
  if (HostResolver::isNumeric(url_.host)) {
    connectTo(url_.host);
    return;
  }
  const std::string error =
      resolver_.resolve(url_.host, [this](std::string address, std::string reason) {
        if (closed_) return;
        if (address.empty()) {
          notifyUnavailable(reason);
          scheduleReconnect();
          return;
        }
        connectTo(address);
      });
  if (!error.empty()) {
    notifyUnavailable(error);
    scheduleReconnect();
  }
}

void RedisSharedBucketStore::connectTo(const std::string& address) {
  // A numeric address: hiredis connects without a blocking lookup.
  ctx_ = redisAsyncConnect(address.c_str(), url_.port);
  if (ctx_ == nullptr || ctx_->err != 0) {
    const std::string reason = ctx_ != nullptr ? ctx_->errstr : "out of memory";
    if (ctx_ != nullptr) redisAsyncFree(ctx_);
    ctx_ = nullptr;
    notifyUnavailable(reason);
    scheduleReconnect();
    return;
  }
  ctx_->data = this;
  redisLibuvAttach(ctx_, dispatcher_.loop());
  redisAsyncSetConnectCallback(ctx_, &Fns::onConnect);
  redisAsyncSetDisconnectCallback(ctx_, &Fns::onDisconnect);
  // Queued before any script, so they go first on the wire.
  if (!url_.password.empty()) {
    if (url_.username.empty()) {
      redisAsyncCommand(ctx_, &Fns::onIgnoredReply, nullptr, "AUTH %b", url_.password.data(),
                        url_.password.size());
    } else {
      redisAsyncCommand(ctx_, &Fns::onIgnoredReply, nullptr, "AUTH %b %b", url_.username.data(),
                        url_.username.size(), url_.password.data(), url_.password.size());
    }
  }
  if (url_.db != 0) redisAsyncCommand(ctx_, &Fns::onIgnoredReply, nullptr, "SELECT %d", url_.db);
  const char* argv[] = {"SCRIPT", "LOAD", script_.data()};
  const std::size_t lens[] = {6, 4, script_.size()};
  redisAsyncCommandArgv(ctx_, &Fns::onScriptLoaded, nullptr, 3, argv, lens);
  watchdog();  // arms the connect deadline
}

void RedisSharedBucketStore::onScriptLoaded(void* raw_reply) {
  auto* reply = static_cast<redisReply*>(raw_reply);
  if (reply != nullptr && reply->type == REDIS_REPLY_STRING) sha_.assign(reply->str, reply->len);
}

void RedisSharedBucketStore::onConnect(int status, const std::string& reason) {
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback (its NULL replies then find nothing).
    ctx_ = nullptr;
    connected_ = false;
    failAllPending();
    notifyUnavailable(reason);
    scheduleReconnect();
    return;
  }
  connected_ = true;
  backoff_ = options_.backoff_min;
  if (callbacks_.on_available) callbacks_.on_available();
}

void RedisSharedBucketStore::onDisconnect(const std::string& reason) {
  // hiredis has already called every pending reply callback with NULL (answered there)
  // and frees the context after this callback.
  ctx_ = nullptr;
  connected_ = false;
  failAllPending();
  notifyUnavailable(reason);
  scheduleReconnect();
}

void RedisSharedBucketStore::dropConnection(const std::string& reason) {
  failAllPending();
  if (ctx_ != nullptr) {
    redisAsyncContext* ctx = ctx_;
    ctx_ = nullptr;
    ctx->data = nullptr;  // we already answered everything; ignore hiredis's last calls
    redisAsyncFree(ctx);
  }
  connected_ = false;
  notifyUnavailable(reason);
  scheduleReconnect();
}

void RedisSharedBucketStore::scheduleReconnect() {
  if (closed_) return;
  static thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> pick(
      options_.backoff_min.count(), std::max(options_.backoff_min, backoff_).count());
  const auto delay = static_cast<std::uint64_t>(pick(rng));
  backoff_ = std::min(options_.backoff_max, backoff_ * 2);
  uv_timer_start(reconnect_timer_, &Fns::onReconnectTimer, delay, 0);
}

// One-shot timer, re-armed for the next deadline: the connect deadline while connecting,
// else the oldest command's (deadlines grow with seq, so the map's first is the oldest).
void RedisSharedBucketStore::watchdog() {
  if (closed_) return;
  const std::uint64_t now = uv_now(dispatcher_.loop());
  if (ctx_ != nullptr && !connected_ &&
      now - connect_started_ms_ >= static_cast<std::uint64_t>(options_.connect_timeout.count())) {
    dropConnection("connect timed out or was refused");
  } else if (!pending_.empty() && pending_.begin()->second.deadline_ms <= now) {
    dropConnection("command timed out");
  }
  std::uint64_t next = UINT64_MAX;
  if (ctx_ != nullptr && !connected_) {
    next = connect_started_ms_ + static_cast<std::uint64_t>(options_.connect_timeout.count());
  }
  if (!pending_.empty()) next = std::min(next, pending_.begin()->second.deadline_ms);
  if (next == UINT64_MAX) {
    uv_timer_stop(watchdog_timer_);
    return;
  }
  uv_timer_start(watchdog_timer_, &Fns::onWatchdog, next > now ? next - now : 0, 0);
}

void RedisSharedBucketStore::failAllPending() {
  std::map<std::uint64_t, Pending> failed;
  failed.swap(pending_);
  for (auto& [seq, p] : failed) unavailableLater(std::move(p.done));
}

void RedisSharedBucketStore::unavailableLater(std::function<void(SharedReserveResult)> done) {
  if (!done) return;
  dispatcher_.post([weak = std::weak_ptr<RedisSharedBucketStore*>(alive_), cb = std::move(done)] {
    if (weak.expired()) return;
    cb(unavailable());
  });
}

void RedisSharedBucketStore::notifyUnavailable(const std::string& reason) {
  if (callbacks_.on_unavailable) callbacks_.on_unavailable(reason);
}

}  // namespace celeriac::worker::redis
