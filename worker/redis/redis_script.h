#pragma once
// RedisScript: a Lua script sent by its SHA-1 (EVALSHA), and the reply types our
// stores read back. The one place that knows how a script call looks on the wire:
//
//   EVALSHA <sha1> <nkeys> keys... args...     normally (the body is not resent)
//   EVAL <source> <nkeys> keys... args...      after Redis answered NOSCRIPT (a restart,
//                                               SCRIPT FLUSH, a failover): it loads it again
//
// What for: the result store runs a script per result and per chord part, the shared
// buckets one per LLM call; sending the whole source every time costs bandwidth and
// Redis parsing. RedisConnection::runScript (redis_connection.h) sends with
// scriptCommand() and retries once with the source when isNoScript() says so.
// What not: no connection handling; no SCRIPT LOAD (EVAL caches the script itself;
// RedisConnectionOptions::preload loads scripts on a call path ahead of their first use).
// Ownership: RedisScript is immutable after construction (define them as statics);
// RedisValue is a plain copy of a hiredis reply, so no reply object outlives its callback.

#include <string>
#include <vector>

struct redisReply;

namespace celeriac::worker::redis {

class RedisScript {
 public:
  explicit RedisScript(std::string source);
  [[nodiscard]] const std::string& source() const { return source_; }
  [[nodiscard]] const std::string& sha1() const { return sha1_; }  // lowercase hex

 private:
  std::string source_;
  std::string sha1_;
};

// The argument vector of one script call (see the banner).
std::vector<std::string> scriptCommand(const RedisScript& script, bool with_source,
                                       const std::vector<std::string>& keys,
                                       const std::vector<std::string>& args);

// A reply, copied out of hiredis.
struct RedisValue {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  long long integer = 0;
  std::string str;                   // kString, kStatus, kError
  std::vector<RedisValue> elements;  // kArray
};
RedisValue copyReply(const redisReply* reply);

// "NOSCRIPT No matching script..." : the script is not cached; send the source.
bool isNoScript(const redisReply* reply);

}  // namespace celeriac::worker::redis
