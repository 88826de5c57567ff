-- Answer "may I call these numbers?" for one organization in one round trip.
--
-- KEYS[1]  <prefix>:{<orgId>}:meta
-- ARGV     the numbers, as E.164 digits without '+' (e.g. 12125551234)
--
-- Returns {enabled, ready, m1, ..., mN}:
--   ready = 0   the mirror is not ready: nothing is known, ask Postgres (POST /api/dnc/check);
--               enabled is then -1 and no memberships follow;
--   enabled = 0 DNC is off for the organization: every number is callable (no memberships);
--   mI = 1      number I is on the list (blocked); 0 it is not.
local meta = redis.call('HMGET', KEYS[1], 'ready', 'enabled', 'gen', 'buckets', 'run_id')
-- A mirror loaded by another server process (a restart from a snapshot, a failover to a
-- replica) may miss recent writes: only the process that loaded it vouches for it.
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
if meta[1] ~= '1' or not meta[3] or not meta[4] or meta[5] ~= run_id then
  return {-1, 0}
end
if meta[2] ~= '1' then
  return {0, 1}
end
local buckets = tonumber(meta[4])
local base = string.sub(KEYS[1], 1, -5) .. 'n:' .. meta[3] .. ':'
local out = {1, 1}
for i = 1, #ARGV do
  local n = tonumber(ARGV[i])
  local r = math.fmod(n, buckets)
  out[i + 2] = redis.call('SISMEMBER', base .. string.format('%d', r),
                          string.format('%d', (n - r) / buckets))
end
return out
