#include "worker/redis/chord_store.h"

#include "worker/celery/result_keys.h"

namespace celeriac::worker::redis {

namespace {

// Lua: true when every document decodes and is SUCCESS. Python's join_native() over a
// saved group raises on a missing (timeout), failed or revoked leaf, and only a join
// that returned reaches the `finally: DEL` of the chord's keys.
const std::string kAllSucceededLua = R"lua(
local function all_succeeded(docs)
  if #docs == 0 then return false end
  for _, doc in ipairs(docs) do
    if not doc then return false end
    local decoded, meta = pcall(cjson.decode, doc)
    if not decoded or type(meta) ~= 'table' or meta['status'] ~= 'SUCCESS' then
      return false
    end
  end
  return true
end
)lua";

// KEYS: .j .t .s and the group's own key; ARGV: score, member, expires seconds (0: none),
// the result key prefix (celery::kResultKeyPrefix: the leaves' keys are read from the
// saved group, so the script builds them).
// Replies {0} (not complete, or no size: `if chord_size_bytes:`), {1, members} for a
// simple header, or {1, {}, saved, leaf documents} for a complex one. Lua sees a
// missing key's GET as false.
const RedisScript kChordPartScript(kAllSucceededLua + R"lua(
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
if saved then
  -- A complex header (GroupResult.save()): Python joins the saved GroupResult with
  -- one MGET of its leaves instead of reading the parts.
  local keys = {}
  local function walk(t)
    if type(t) ~= 'table' then return end
    if type(t[2]) == 'table' then
      for _, child in ipairs(t[2]) do walk(child) end
    elseif type(t[1]) == 'table' then
      table.insert(keys, ARGV[4] .. tostring(t[1][1]))
    end
  end
  local ok, group = pcall(cjson.decode, saved)
  if ok and type(group) == 'table' then walk(group['result']) end
  local docs = {}
  if #keys > 0 then docs = redis.call('MGET', unpack(keys)) end
  -- A leaf not ready yet: the caller reads the leaves again (fetchChordLeaves), which
  -- deletes the keys once the join can succeed.
  if all_succeeded(docs) then
    redis.call('DEL', KEYS[1])
    redis.call('DEL', KEYS[2])
    redis.call('DEL', KEYS[3])
  end
  return {1, {}, saved, docs}
end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local clean = true
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
return {1, members}
)lua");

// KEYS: .j .t .s, then celery-task-meta-<leaf>...: the leaves' documents, and the
// chord's keys deleted once every leaf has succeeded (the join is then done).
const RedisScript kChordLeavesScript(kAllSucceededLua + R"lua(
local leaves = {}
for i = 4, #KEYS do leaves[#leaves + 1] = KEYS[i] end
local docs = redis.call('MGET', unpack(leaves))
if all_succeeded(docs) then
  redis.call('DEL', KEYS[1])
  redis.call('DEL', KEYS[2])
  redis.call('DEL', KEYS[3])
end
return docs
)lua");

}  // namespace

void fetchChordLeaves(ResultStore& store, const std::string& group_id,
                      const std::vector<std::string>& task_ids,
                      std::function<void(std::vector<std::optional<std::string>>)> done) {
  if (task_ids.empty()) {
    done({});
    return;
  }
  std::vector<std::string> keys{celery::groupKey(group_id, ".j"), celery::groupKey(group_id, ".t"),
                                celery::groupKey(group_id, ".s")};
  for (const std::string& id : task_ids) keys.push_back(celery::resultKey(id));
  store.runScript(kChordLeavesScript, std::move(keys), {},
                  [done = std::move(done)](const RedisValue& value) {
                    std::vector<std::optional<std::string>> docs;
                    for (const RedisValue& doc : value.elements) {
                      if (doc.type == RedisValue::Type::kString) {
                        docs.emplace_back(doc.str);
                      } else {
                        docs.emplace_back(std::nullopt);
                      }
                    }
                    done(std::move(docs));
                  });
}

void reportChordPart(ResultStore& store, const std::string& group_id, const std::string& score,
                     std::string encoded_part, std::chrono::seconds expires,
                     std::function<void(ChordPartReply)> done) {
  store.runScript(
      kChordPartScript,
      {celery::groupKey(group_id, ".j"), celery::groupKey(group_id, ".t"),
       celery::groupKey(group_id, ".s"), celery::groupKey(group_id)},
      {score, std::move(encoded_part), std::to_string(expires.count()),
       std::string(celery::kResultKeyPrefix)},
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
          if (value.elements.size() >= 4) {
            for (const RedisValue& doc : value.elements[3].elements) {
              if (doc.type == RedisValue::Type::kString) {
                reply.saved_docs.emplace_back(doc.str);
              } else {
                reply.saved_docs.emplace_back(std::nullopt);
              }
            }
          }
        }
        if (done) done(std::move(reply));
      });
}

}  // namespace celeriac::worker::redis
