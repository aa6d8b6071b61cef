#include "balancer/shared_bucket_store.h"

namespace celeriac::balancer {

// Why Lua: EVALSHA runs atomically on the server, so a multi-bucket check-then-take has
// no race between replicas. TIME is the server's clock (allowed in scripts since Redis 5
// with effects replication, the default from Redis 5 on), so replicas' clocks do not
// matter. Keys expire after two refill periods of inactivity, when they would be full
// anyway. Levels may go negative (debt) through "adjust".
const std::string_view kSharedBucketScript = R"lua(
local mode = ARGV[1]
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local levels = {}
local wait_ms = 0
for i = 1, n do
  local capacity = tonumber(ARGV[2 * i])
  local amount = tonumber(ARGV[2 * i + 1])
  local per_us = capacity / 60000000
  local state = redis.call('HMGET', KEYS[i], 'level', 'ts_us')
  local level = tonumber(state[1]) or capacity
  local ts = tonumber(state[2]) or now_us
  if now_us > ts then level = math.min(capacity, level + (now_us - ts) * per_us) end
  levels[i] = level
  if mode == 'reserve' then
    local need = math.min(amount, capacity) - level
    if need > 0 then
      local ms = math.ceil(need / per_us / 1000)
      if ms > wait_ms then wait_ms = ms end
    end
  end
end
if mode == 'reserve' and wait_ms > 0 then
  for i = 1, n do
    redis.call('HSET', KEYS[i], 'level', tostring(levels[i]), 'ts_us', tostring(now_us))
    redis.call('PEXPIRE', KEYS[i], 120000)
  end
  return {0, wait_ms}
end
for i = 1, n do
  local capacity = tonumber(ARGV[2 * i])
  local amount = tonumber(ARGV[2 * i + 1])
  local level = math.min(capacity, levels[i] - amount)
  redis.call('HSET', KEYS[i], 'level', tostring(level), 'ts_us', tostring(now_us))
  redis.call('PEXPIRE', KEYS[i], 120000)
end
return {1, 0}
)lua";

std::string sharedBucketTag(std::string_view alias, std::string_view model) {
  std::string tag = "{celeriac:key:";
  tag.append(alias).append(":").append(model).append("}");
  return tag;
}

}  // namespace celeriac::balancer
