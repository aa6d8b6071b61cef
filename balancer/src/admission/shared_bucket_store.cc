#include "balancer/shared_bucket_store.h"

#include <charconv>

namespace celeriac::balancer {

// Why Lua: EVALSHA runs atomically on the server, so a multi-key check-then-take has no
// race between replicas. TIME is the server's clock (allowed in scripts with effects
// replication, the only mode from Redis 7 on), so replicas' clocks do not matter.
//
// Two passes: the first trims expired window entries and works out whether every limit
// admits (and if not, the wait); the second applies the amounts, so a refusal takes
// nothing anywhere (all-or-none).
//
// Sliding window (`kind == "window"`): a sorted set, score = grant time in ms, member =
// "<grant>/<j>" with a grant id unique within the key (the microsecond time plus a
// sequence, bumped until unused). Admit iff (entries in (now - period, now]) + amount <=
// capacity; when not, the wait is until the entry whose expiry makes room: the
// excess-th oldest, at its score + period. A refund with the grant removes exactly that
// grant's entries, so a grant handed back before sending frees its own slot; without one
// it pops the newest (which may leave an older entry, i.e. free a slot slightly early).
// The key expires one period after its last write, when every entry is stale anyway.
// Scores are whole ms (13 digits): Lua 5.1 turns numbers into strings with "%.14g", so
// a microsecond time (16 digits) would be rounded; hence string.format where it matters.
//
// Token bucket (`kind == "bucket"`): a hash {level, ts_us}, starting full, refilled
// continuously at capacity per period; levels may go negative (debt) through "adjust".
// It expires after two periods of inactivity, when it would be full anyway.
//
// Pause (`kind == "pause"`): a string holding "no grant before" as server ms. "adjust"
// with amount N ms extends it to now + N (a later deadline always wins, so a short
// Retry-After never shortens a long one); "reserve" waits until it has passed. One
// replica's 429 thus holds every replica's sends on that key, on the server's clock.
const std::string_view kSharedBucketScript = R"lua(
local mode = ARGV[1]
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local n = #KEYS
local kinds, caps, amounts, periods, grants, levels = {}, {}, {}, {}, {}, {}
local wait_ms = 0
for i = 1, n do
  local a = 1 + 5 * (i - 1)
  kinds[i] = ARGV[a + 1]
  caps[i] = tonumber(ARGV[a + 2])
  amounts[i] = tonumber(ARGV[a + 3])
  periods[i] = tonumber(ARGV[a + 4])
  grants[i] = ARGV[a + 5]
  if kinds[i] == 'pause' then
    if mode == 'reserve' then
      local until_ms = tonumber(redis.call('GET', KEYS[i]) or '0')
      if until_ms > now_ms and until_ms - now_ms > wait_ms then wait_ms = until_ms - now_ms end
    end
  elseif kinds[i] == 'window' then
    amounts[i] = math.floor(amounts[i] + 0.5)
    -- Half-open windows: an entry exactly one period old no longer counts.
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now_ms - periods[i])
    if mode == 'reserve' then
      local excess = redis.call('ZCARD', KEYS[i]) + math.min(amounts[i], caps[i]) - caps[i]
      if excess > 0 then
        local e = redis.call('ZRANGE', KEYS[i], excess - 1, excess - 1, 'WITHSCORES')
        local ms = math.max(1, tonumber(e[2]) + periods[i] - now_ms)
        if ms > wait_ms then wait_ms = ms end
      end
    end
  else
    local per_us = caps[i] / (periods[i] * 1000)
    local state = redis.call('HMGET', KEYS[i], 'level', 'ts_us')
    local level = tonumber(state[1]) or caps[i]
    local ts = tonumber(state[2]) or now_us
    if now_us > ts then level = math.min(caps[i], level + (now_us - ts) * per_us) end
    levels[i] = level
    if mode == 'reserve' then
      local need = math.min(amounts[i], caps[i]) - level
      if need > 0 then
        local ms = math.ceil(need / per_us / 1000)
        if ms > wait_ms then wait_ms = ms end
      end
    end
  end
end
local function saveBucket(i, level)
  redis.call('HSET', KEYS[i], 'level', tostring(level), 'ts_us', string.format('%.0f', now_us))
  redis.call('PEXPIRE', KEYS[i], 2 * periods[i])
end
if mode == 'reserve' and wait_ms > 0 then
  for i = 1, n do
    if kinds[i] == 'bucket' then saveBucket(i, levels[i]) end
  end
  return {0, wait_ms}
end
local grant = ''
for i = 1, n do
  if kinds[i] == 'window' and amounts[i] > 0 and grant == '' then
    local seq = 0
    repeat
      seq = seq + 1
      grant = string.format('%.0f-%d', now_us, seq)
      local taken = false
      for j = 1, n do
        if kinds[j] == 'window' and redis.call('ZSCORE', KEYS[j], grant .. '/1') then
          taken = true
        end
      end
    until not taken
  end
end
for i = 1, n do
  local amount = amounts[i]
  if kinds[i] == 'pause' then
    if amount > 0 then
      local until_ms = now_ms + math.ceil(amount)
      if until_ms > tonumber(redis.call('GET', KEYS[i]) or '0') then
        redis.call('SET', KEYS[i], string.format('%.0f', until_ms), 'PX', math.ceil(amount))
      end
    end
  elseif kinds[i] == 'window' then
    if amount > 0 then
      for j = 1, amount do redis.call('ZADD', KEYS[i], now_ms, grant .. '/' .. j) end
    elseif amount < 0 and grants[i] ~= '' then
      for j = 1, -amount do redis.call('ZREM', KEYS[i], grants[i] .. '/' .. j) end
    elseif amount < 0 then
      redis.call('ZPOPMAX', KEYS[i], -amount)
    end
    redis.call('PEXPIRE', KEYS[i], periods[i])
  else
    saveBucket(i, math.min(caps[i], levels[i] - amount))
  end
end
return {1, 0, grant}
)lua";

std::string sharedBucketTag(std::string_view alias, std::string_view model) {
  std::string tag = "{celeriac:key:";
  tag.append(alias).append(":").append(model).append("}");
  return tag;
}

namespace {

std::string formatNumber(double value) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

}  // namespace

std::vector<std::string> sharedScriptArgv(std::string_view mode,
                                          const std::vector<SharedBucketSpec>& buckets) {
  std::vector<std::string> argv;
  argv.reserve(1 + 5 * buckets.size());
  argv.emplace_back(mode);
  for (const SharedBucketSpec& b : buckets) {
    switch (b.kind) {
      case SharedBucketSpec::Kind::kSlidingWindow:
        argv.emplace_back("window");
        break;
      case SharedBucketSpec::Kind::kPause:
        argv.emplace_back("pause");
        break;
      case SharedBucketSpec::Kind::kTokenBucket:
        argv.emplace_back("bucket");
        break;
    }
    argv.push_back(formatNumber(b.capacity));
    argv.push_back(formatNumber(b.amount));
    argv.push_back(std::to_string(b.period.count()));
    argv.push_back(b.grant);
  }
  return argv;
}

}  // namespace celeriac::balancer
