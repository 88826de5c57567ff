-- What the reconciliation compares: the live generation's checksum, and the membership of
-- some numbers whatever the DNC flag, read atomically.
--
-- KEYS[1]  <prefix>:{<orgId>}:meta
-- KEYS[2]  <prefix>:{<orgId>}:n:, what the organization's bucket keys start with (a bucket
--          key is KEYS[2] .. <gen> .. ':' .. <r>; see infra/redis/layout.py)
-- ARGV[1]  numbers (E.164 digits) joined by ',', possibly empty
--
-- Returns {ready, enabled, buckets, count, sum1, sum2, sum3, memberships, prefixes}: ready
-- 1/0 as check.lua decides it for the list; enabled '1'/'0' or ''; buckets, the checksum
-- fields ('' when absent); memberships the characters '1'/'0' in the numbers' order ('' when
-- there is no live generation); prefixes the prefix rules stored (an org-wide list's meta
-- key), '-' when none are stored; subscriptions the shared lists stored (the same), '-'
-- when none are; fresh_until a shared list's freshness ('' when absent).
local meta = redis.call('HMGET', KEYS[1], 'ready3', 'enabled', 'gen', 'buckets', 'run_id',
                        'count', 'sum1', 'sum2', 'sum3', 'prefixes', 'shared', 'fresh_until')
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
local ready = 0
if meta[1] == '1' and meta[3] and meta[4] and meta[5] == run_id then ready = 1 end
local hits = {}
if meta[3] and meta[4] then
  local buckets = tonumber(meta[4])
  local base = KEYS[2] .. meta[3] .. ':'
  local fmod, format = math.fmod, string.format
  for n in string.gmatch(ARGV[1] or '', '%d+') do
    n = tonumber(n)
    local r = fmod(n, buckets)
    hits[#hits + 1] = redis.call('SISMEMBER', base .. format('%d', r),
                                 format('%d', (n - r) / buckets))
  end
end
return {ready, meta[2] or '', meta[4] or '', meta[6] or '', meta[7] or '', meta[8] or '',
        meta[9] or '', table.concat(hits), meta[10] or '-', meta[11] or '-', meta[12] or ''}
