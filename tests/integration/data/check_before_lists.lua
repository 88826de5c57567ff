-- Answer "may I call these numbers?" for one organization in one round trip.
--
-- KEYS[1]  <prefix>:{<orgId>}:meta
-- KEYS[2]  <prefix>:{<orgId>}:n:, what the organization's bucket keys start with (a bucket
--          key is KEYS[2] .. <gen> .. ':' .. <r>; see infra/redis/layout.py)
-- ARGV     the numbers, as E.164 digits without '+' (e.g. 12125551234); or, packed, for
--          callers that check thousands at once: ARGV[1] = '@', ARGV[2] = the numbers
--          joined by ',' (no per-argument cost on either side)
--
-- Returns {enabled, ready, m1, ..., mN}, or {enabled, ready, 'm1...mN'} when packed:
--   ready = 0   the mirror is not ready: nothing is known, ask Postgres (POST /api/dnc/check);
--               enabled is then -1 and no memberships follow;
--   enabled = 0 DNC is off for the organization: every number is callable (no memberships);
--   mI = 1      number I is on the list (blocked); 0 it is not (packed: the characters
--               '1' and '0' of one string, in order).
-- A caller that passes only the meta key (the one-key call of earlier versions) gets an error,
-- which it must read as "unknown", never an answer built from a guessed key
if #KEYS ~= 2 then
  return redis.error_reply('check.lua takes 2 keys: the meta key and the bucket keys prefix')
end
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
local packed = ARGV[1] == '@'
local numbers = ARGV
if packed then
  numbers = {}
  for n in string.gmatch(ARGV[2] or '', '%d+') do
    numbers[#numbers + 1] = n
  end
end
local buckets = tonumber(meta[4])
local base = KEYS[2] .. meta[3] .. ':'
local call, fmod, format = redis.call, math.fmod, string.format
local hits = {}
for i = 1, #numbers do
  local n = tonumber(numbers[i])
  local r = fmod(n, buckets)
  hits[i] = call('SISMEMBER', base .. format('%d', r), format('%d', (n - r) / buckets))
end
if packed then
  return {1, 1, table.concat(hits)}
end
local out = {1, 1}
for i = 1, #hits do
  out[i + 2] = hits[i]
end
return out
