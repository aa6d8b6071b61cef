#include "worker/redis/redis_connection.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <random>

namespace celeriac::worker::redis {

namespace {

void* seqToPrivdata(std::uint64_t seq) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(seq));
}
std::uint64_t privdataToSeq(void* p) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
}

}  // namespace

// hiredis and libuv call these; each finds its connection through `data`, which is
// cleared before a context is let go, so hiredis's last calls (NULL replies while it
// frees the context) find nothing.
struct RedisConnection::Fns {
  static RedisConnection* self(const redisAsyncContext* c) {
    return static_cast<RedisConnection*>(c->data);
  }
  static void onReply(redisAsyncContext* c, void* reply, void* privdata) noexcept {
    if (auto* s = self(c)) s->onReply(privdataToSeq(privdata), reply);
  }
  static void onConnect(const redisAsyncContext* c, int status) noexcept {
    if (auto* s = self(c)) s->onConnect(status == REDIS_OK, c->errstr);
  }
  static void onDisconnect(const redisAsyncContext* c, int status) noexcept {
    auto* s = self(c);
    if (s == nullptr) return;
    const std::string reason = status == REDIS_OK ? "disconnected" : c->errstr;
    // hiredis already gave every pending reply callback NULL (ignored: answered here)
    // and frees the context after this callback.
    s->detach();
    s->linkLost(reason);
  }
  static void onWatchdog(uv_timer_t* t) noexcept {
    static_cast<RedisConnection*>(t->data)->onWatchdog();
  }
  static void onConnectedTimer(uv_timer_t* t) noexcept {
    auto* s = static_cast<RedisConnection*>(t->data);
    if (s->connected_ && s->callbacks_.on_connected) s->callbacks_.on_connected();
  }
  static void onReconnectTimer(uv_timer_t* t) noexcept {
    auto* s = static_cast<RedisConnection*>(t->data);
    if (!s->closed_ && s->ctx_ == nullptr) s->connect();
  }
};

RedisConnection::RedisConnection(uv_loop_t* loop, RedisUrl url, RedisConnectionOptions options,
                                 Callbacks callbacks)
    : loop_(loop),
      url_(std::move(url)),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      backoff_(options_.backoff_min),
      reconnect_timer_(uv::makeHandle<uv_timer_t>(loop, this)),
      watchdog_timer_(uv::makeHandle<uv_timer_t>(loop, this)),
      connected_timer_(uv::makeHandle<uv_timer_t>(loop, this)) {}

RedisConnection::~RedisConnection() { close(); }

void RedisConnection::start() {
  if (started_ || closed_) return;
  started_ = true;
  connect();
}

void RedisConnection::close() {
  if (closed_) return;
  closed_ = true;
  uv_timer_stop(reconnect_timer_.get());
  uv_timer_stop(watchdog_timer_.get());
  uv_timer_stop(connected_timer_.get());
  pending_.clear();
  // Deferred by hiredis when called from inside one of its callbacks.
  if (redisAsyncContext* ctx = detach()) redisAsyncFree(ctx);
}

bool RedisConnection::command(const std::vector<std::string>& argv, Done done) {
  Pending pending;
  pending.done = std::move(done);
  return send(argv, std::move(pending));
}

bool RedisConnection::runScript(const RedisScript& script, std::vector<std::string> keys,
                                std::vector<std::string> args, Done done) {
  Pending pending;
  pending.script = &script;
  pending.keys = std::move(keys);
  pending.args = std::move(args);
  pending.done = std::move(done);
  std::vector<std::string> argv = scriptCommand(script, false, pending.keys, pending.args);
  return send(std::move(argv), std::move(pending));
}

bool RedisConnection::send(std::vector<std::string> argv, Pending pending) {
  if (ctx_ == nullptr) return false;
  const std::uint64_t seq = next_seq_++;
  if (!write(seq, argv)) return false;
  // From now, not from when this loop turn began: uv_now() is the time the turn started,
  // and a turn busy with a burst of deliveries can outlast the timeout itself, which
  // would give the command a deadline already past before Redis could answer.
  uv_update_time(loop_);
  pending.deadline_ms =
      uv_now(loop_) + static_cast<std::uint64_t>(options_.command_timeout.count());
  pending_.emplace(seq, std::move(pending));
  armWatchdog();  // while connecting, this deadline may come before the connect deadline
  return true;
}

bool RedisConnection::write(std::uint64_t seq, const std::vector<std::string>& argv) {
  std::vector<const char*> parts;
  std::vector<std::size_t> lens;
  parts.reserve(argv.size());
  lens.reserve(argv.size());
  for (const std::string& part : argv) {
    parts.push_back(part.data());
    lens.push_back(part.size());
  }
  // hiredis formats the command into its output buffer here, so `argv` may go.
  return redisAsyncCommandArgv(ctx_, &Fns::onReply, seqToPrivdata(seq),
                               static_cast<int>(parts.size()), parts.data(),
                               lens.data()) == REDIS_OK;
}

void RedisConnection::onReply(std::uint64_t seq, void* raw_reply) {
  // NULL: hiredis is freeing the context; onDisconnect (or whoever let it go) answers.
  if (raw_reply == nullptr) return;
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  const auto* reply = static_cast<const redisReply*>(raw_reply);
  Pending& p = it->second;
  if (p.script != nullptr && !p.with_source && isNoScript(reply)) {
    // Redis lost its script cache: send the source once, which caches it again for the
    // next EVALSHA. Same seq, same deadline.
    p.with_source = true;
    if (write(seq, scriptCommand(*p.script, true, p.keys, p.args))) return;
  }
  Done done = std::move(p.done);
  pending_.erase(it);
  if (done) done(copyReply(reply));  // last: it may close or destroy the connection
}

void RedisConnection::connect() {
  if (HostResolver::isNumeric(url_.host)) {
    connectTo(url_.host);
    return;
  }
  const common::Result<void> started =
      resolver_.resolve(url_.host, [this](std::string address, std::string reason) {
        if (closed_) return;
        if (address.empty()) {
          linkLost(reason);
          return;
        }
        connectTo(address);
      });
  if (!started) linkLost(started.error().message);
}

void RedisConnection::connectTo(const std::string& address) {
  // A numeric address: hiredis connects without a blocking lookup.
  redisAsyncContext* ctx = redisAsyncConnect(address.c_str(), url_.port);
  if (ctx == nullptr || ctx->err != 0) {
    const std::string reason = ctx != nullptr ? ctx->errstr : "out of memory";
    if (ctx != nullptr) redisAsyncFree(ctx);
    linkLost(reason);
    return;
  }
  ctx_ = ctx;
  ctx_->data = this;
  connect_started_ms_ = uv_now(loop_);
  redisLibuvAttach(ctx_, loop_);
  redisAsyncSetConnectCallback(ctx_, &Fns::onConnect);
  redisAsyncSetDisconnectCallback(ctx_, &Fns::onDisconnect);
  // Queued before any command of the owner, so they go first on the wire.
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
  for (const RedisScript* script : options_.preload) {
    redisAsyncCommand(ctx_, nullptr, nullptr, "SCRIPT LOAD %b", script->source().data(),
                      script->source().size());
  }
  armWatchdog();  // the connect deadline
}

void RedisConnection::onConnect(bool ok, const std::string& reason) {
  if (!ok) {
    // hiredis frees the context after this callback.
    detach();
    linkLost(reason);
    return;
  }
  connected_ = true;
  backoff_ = options_.backoff_min;
  // Told from the loop: hiredis 0.14 goes on using the context after this callback
  // (redisAsyncHandleWrite), so on_connected must not run inside it, where closing or
  // destroying the connection would free the context under hiredis.
  uv_timer_start(connected_timer_.get(), &Fns::onConnectedTimer, 0, 0);
}

redisAsyncContext* RedisConnection::detach() {
  redisAsyncContext* ctx = ctx_;
  ctx_ = nullptr;
  connected_ = false;
  if (ctx != nullptr) ctx->data = nullptr;
  return ctx;
}

void RedisConnection::drop(const std::string& reason) {
  // hiredis's NULL replies for the commands on this context find no connection;
  // linkLost() answers them.
  if (redisAsyncContext* ctx = detach()) redisAsyncFree(ctx);
  linkLost(reason);
}

void RedisConnection::linkLost(const std::string& reason) {
  uv_timer_stop(connected_timer_.get());  // gone before the owner heard it was there
  // Scheduled first: the callbacks below may close() (which stops it) or destroy us.
  scheduleReconnect();
  std::map<std::uint64_t, Pending> lost;
  lost.swap(pending_);
  const common::LifetimeWatch life = lifetime_.watch();
  for (auto& [seq, p] : lost) {
    if (p.done) p.done(std::nullopt);
    if (!life.alive() || closed_) return;
  }
  if (callbacks_.on_unavailable) callbacks_.on_unavailable(reason);
}

std::chrono::milliseconds RedisConnection::nextBackoff() {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> pick(
      options_.backoff_min.count(), std::max(options_.backoff_min, backoff_).count());
  const std::chrono::milliseconds delay(pick(rng));
  backoff_ = std::min(options_.backoff_max, backoff_ * 2);
  return delay;
}

void RedisConnection::scheduleReconnect() {
  if (closed_) return;
  uv_timer_start(reconnect_timer_.get(), &Fns::onReconnectTimer,
                 static_cast<std::uint64_t>(nextBackoff().count()), 0);
}

// One-shot, re-armed for the nearest deadline: connecting's while connecting, else the
// oldest command's (deadlines grow with seq, so the map's first is the nearest).
void RedisConnection::armWatchdog() {
  if (closed_) return;
  std::uint64_t next = UINT64_MAX;
  if (ctx_ != nullptr && !connected_) {
    next = connect_started_ms_ + static_cast<std::uint64_t>(options_.connect_timeout.count());
  }
  if (!pending_.empty()) next = std::min(next, pending_.begin()->second.deadline_ms);
  if (next == UINT64_MAX) {
    uv_timer_stop(watchdog_timer_.get());
    return;
  }
  // At least 1 ms: libuv 1.44 runs a 0 ms timer started from a timer callback again in
  // the same timer phase, before any poll.
  const std::uint64_t now = uv_now(loop_);
  uv_timer_start(watchdog_timer_.get(), &Fns::onWatchdog, next > now ? next - now : 1, 0);
}

void RedisConnection::onWatchdog() {
  const std::uint64_t now = uv_now(loop_);
  if (ctx_ != nullptr && !connected_ &&
      now - connect_started_ms_ >= static_cast<std::uint64_t>(options_.connect_timeout.count())) {
    // Freeing an unconnected context calls no disconnect callback.
    drop("connect timed out or was refused");
    return;
  }
  if (!pending_.empty() && pending_.begin()->second.deadline_ms <= now) {
    // Timers run before the loop polls its sockets, so after a busy loop turn the reply
    // may be waiting unread on the socket. Judge a command only after one poll phase
    // past its deadline: the watchdog comes back in 1 ms (never 0, see armWatchdog), and
    // the poll phase of this turn comes first and reads what Redis sent.
    if (const std::uint64_t oldest = pending_.begin()->first; oldest != polled_for_seq_) {
      polled_for_seq_ = oldest;
      armWatchdog();
      return;
    }
    // Redis stopped answering: the connection goes, and every command on it.
    drop("command timed out");
    return;
  }
  armWatchdog();
}

}  // namespace celeriac::worker::redis
