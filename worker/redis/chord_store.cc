#include "worker/redis/chord_store.h"

namespace celeriac::worker::redis {

namespace {

// KEYS: .j .t .s and the group's own key; ARGV: score, member, expires seconds (0: none).
// Replies {0} (not complete, or no size: `if chord_size_bytes:`), or {1, members,
// saved-or-false}. Lua sees a missing key's GET as false.
const RedisScript kChordPartScript(R"lua(
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local ready = redis.call('ZCOUNT', KEYS[1], '-inf', '+inf')
local extra = redis.call('GET', KEYS[2])
local size = redis.call('GET', KEYS[3])
local ttl = tonumber(ARGV[3])
if ttl and ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
if not size then return {0} end
local total = (tonumber(size) or 0) + (tonumber(extra) or 0)
if ready ~= total then return {0} end
local saved = redis.call('GET', KEYS[4])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local clean = not saved
for _, member in ipairs(members) do
  local ok, part = pcall(cjson.decode, member)
  if not ok or type(part) ~= 'table' or part[3] == 'FAILURE' or part[3] == 'REVOKED' then
    clean = false
  end
end
if clean then
  redis.call('DEL', KEYS[1])
  redis.call('DEL', KEYS[2])
  redis.call('DEL', KEYS[3])
end
return {1, members, saved}
)lua");

}  // namespace

std::string groupKey(const std::string& group_id, const char* suffix) {
  return "celery-taskset-meta-" + group_id + suffix;
}

void reportChordPart(ResultStore& store, const std::string& group_id, const std::string& score,
                     std::string encoded_part, std::chrono::seconds expires,
                     std::function<void(ChordPartReply)> done) {
  store.runScript(
      kChordPartScript,
      {groupKey(group_id, ".j"), groupKey(group_id, ".t"), groupKey(group_id, ".s"),
       groupKey(group_id)},
      {score, std::move(encoded_part), std::to_string(expires.count())},
      [done = std::move(done)](const RedisValue& value) {
        ChordPartReply reply;
        if (value.type == RedisValue::Type::kArray && !value.elements.empty() &&
            value.elements[0].integer == 1 && value.elements.size() >= 2) {
          reply.completed = true;
          for (const RedisValue& member : value.elements[1].elements) {
            reply.members.push_back(member.str);
          }
          if (value.elements.size() >= 3 && value.elements[2].type == RedisValue::Type::kString) {
            reply.saved_group = value.elements[2].str;
          }
        }
        if (done) done(std::move(reply));
      });
}

}  // namespace celeriac::worker::redis
