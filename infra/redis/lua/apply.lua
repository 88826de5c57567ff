-- Bring the mirror in line with Postgres for some numbers, atomically.
--
-- KEYS[1]  <prefix>:{<orgId>}:meta
-- KEYS[2]  <prefix>:{<orgId>}:n:, what the organization's bucket keys start with (a bucket
--          key is KEYS[2] .. <gen> .. ':' .. <r>; see infra/redis/layout.py)
-- ARGV[1]  '1' or '0' to store the DNC enabled flag, '' to leave it
-- ARGV[2]  k, how many of the numbers that follow are to be added
-- ARGV[3..2+k] numbers to add; ARGV[3+k..] numbers to remove
--
-- Writes to the live generation and to the one a rebuild is building, whichever exist, and
-- keeps each generation's checksum (count, sum1, sum2, sum3; see domain/checksum.py) in step
-- with what SADD and SREM actually changed. A generation without a checksum (one built before
-- checksums existed) is left without one: the reconciliation rebuilds it.
-- Returns 1 if a live generation exists, else 0 (the mirror is not ready).
local P1, P2, P3 = 67108859, 67108837, 67108819
local fmod, format = math.fmod, string.format
local meta = redis.call('HMGET', KEYS[1], 'gen', 'buckets', 'bgen', 'bbuckets',
                        'count', 'sum1', 'sum2', 'sum3', 'bcount', 'bsum1', 'bsum2', 'bsum3')
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'enabled', ARGV[1])
end
local base = KEYS[2]
local k = tonumber(ARGV[2])
-- one generation: write, and return how its checksum changed
local function write(gen, buckets, command, first, last, sign, sums)
  buckets = tonumber(buckets)
  for i = first, last do
    local n = tonumber(ARGV[i])
    local r = fmod(n, buckets)
    if redis.call(command, base .. gen .. ':' .. format('%d', r),
                  format('%d', (n - r) / buckets)) == 1 then
      local x3 = fmod(n, P3)
      sums[1] = sums[1] + sign
      sums[2] = fmod(sums[2] + sign * fmod(n, P1) + P1, P1)
      sums[3] = fmod(sums[3] + sign * fmod(n, P2) + P2, P2)
      sums[4] = fmod(sums[4] + sign * fmod(x3 * x3, P3) + P3, P3)
    end
  end
end
local fields = {{'count', 'sum1', 'sum2', 'sum3'}, {'bcount', 'bsum1', 'bsum2', 'bsum3'}}
for g, at in ipairs({{1, 5}, {3, 9}}) do
  local gen, buckets = meta[at[1]], meta[at[1] + 1]
  if gen and buckets then
    local kept = meta[at[2]] and meta[at[2] + 1] and meta[at[2] + 2] and meta[at[2] + 3]
    local sums = {0, 0, 0, 0}
    if kept then
      sums = {tonumber(meta[at[2]]), tonumber(meta[at[2] + 1]), tonumber(meta[at[2] + 2]),
              tonumber(meta[at[2] + 3])}
    end
    write(gen, buckets, 'SADD', 3, 2 + k, 1, sums)
    write(gen, buckets, 'SREM', 3 + k, #ARGV, -1, sums)
    if kept then
      local f = fields[g]
      redis.call('HSET', KEYS[1], f[1], format('%d', sums[1]), f[2], format('%d', sums[2]),
                 f[3], format('%d', sums[3]), f[4], format('%d', sums[4]))
    end
  end
end
if meta[1] then return 1 end
return 0
