#include "worker/redis/key_set_lease.h"

#include <hiredis/hiredis.h>

#include <functional>
#include <memory>
#include <utility>

#include "common/result.h"

namespace celeriac::worker::redis {

namespace {

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

timeval toTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

Reply command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

// Connected, authenticated and on the right database; or why not (never with the
// password in it).
Result<Context> connect(const RedisUrl& url, std::chrono::milliseconds timeout) {
  Context c(redisConnectWithTimeout(url.host.c_str(), url.port, toTimeval(timeout)));
  if (!c || c->err != 0) {
    return Error{c ? c->errstr : "cannot allocate a Redis context"};
  }
  redisSetTimeout(c.get(), toTimeval(timeout));
  if (!url.password.empty()) {
    Reply r = url.username.empty() ? command(c.get(), {"AUTH", url.password})
                                   : command(c.get(), {"AUTH", url.username, url.password});
    if (!r || r->type == REDIS_REPLY_ERROR) return Error{"AUTH refused"};
  }
  if (url.db != 0) {
    Reply r = command(c.get(), {"SELECT", std::to_string(url.db)});
    if (!r || r->type == REDIS_REPLY_ERROR) {
      return Error{"SELECT " + std::to_string(url.db) + " refused"};
    }
  }
  return c;
}

}  // namespace

std::string keySetLeaseKey(const std::string& set_name) {
  return "celeriac-keyset-lease:" + set_name;
}

KeySetClaim claimKeySet(const RedisUrl& url, const std::vector<std::string>& set_names,
                        const std::string& owner, std::chrono::milliseconds ttl,
                        std::chrono::milliseconds timeout) {
  KeySetClaim claim;
  if (set_names.empty()) return claim;
  Result<Context> connected = connect(url, timeout);
  if (!connected) {
    claim.shared = true;
    claim.detail = "Redis " + url.redacted() + " unreachable (" + connected.error().message +
                   "): using key set " + set_names[0] + " without a lease";
    return claim;
  }
  const Context c = std::move(connected).value();
  const std::string ttl_ms = std::to_string(std::max<long long>(1, ttl.count()));
  for (std::size_t i = 0; i < set_names.size(); ++i) {
    Reply r = command(c.get(), {"SET", keySetLeaseKey(set_names[i]), owner, "NX", "PX", ttl_ms});
    if (!r) {
      claim.shared = true;
      claim.detail = std::string("Redis failed while claiming (") + c->errstr +
                     "): using key set " + set_names[0] + " without a lease";
      return claim;
    }
    if (r->type == REDIS_REPLY_STATUS) {  // OK: ours
      claim.index = i;
      claim.leased = true;
      claim.detail = "key set " + set_names[i] + " leased";
      return claim;
    }
  }
  // Every set is held: share one, spread by owner name so extra replicas do not all
  // pile onto the first set.
  claim.index = std::hash<std::string>{}(owner) % set_names.size();
  claim.shared = true;
  claim.detail = "all " + std::to_string(set_names.size()) +
                 " key sets are leased by other replicas: sharing key set " +
                 set_names[claim.index] + " (its limits are now shared: add key sets or "
                 "remove replicas)";
  return claim;
}

void releaseKeySet(const RedisUrl& url, const std::string& set_name, const std::string& owner,
                   std::chrono::milliseconds timeout) {
  Result<Context> connected = connect(url, timeout);
  if (!connected) return;
  const Context c = std::move(connected).value();
  static const std::string kReleaseScript =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
      "return 0";
  Reply r = command(c.get(), {"EVAL", kReleaseScript, "1", keySetLeaseKey(set_name), owner});
}

}  // namespace celeriac::worker::redis
