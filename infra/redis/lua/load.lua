-- The rebuild's bulk load into the generation being built, keeping its checksum.
--
-- KEYS[1]  <prefix>:{<orgId>}:meta
-- KEYS[2]  <prefix>:{<orgId>}:n:, what the organization's bucket keys start with (a bucket
--          key is KEYS[2] .. <gen> .. ':' .. <r>; see infra/redis/layout.py)
-- ARGV[1]  the generation being built; ARGV[2] its bucket count
-- ARGV[3..] groups: bucket r, member count k, then k members (each n = member * buckets + r)
--
-- Live writes reach the generation while it loads, so a member may be there already: an empty
-- bucket (the usual case) takes every member with one SADD; otherwise SMISMEMBER first tells
-- which members are new, and only those count in the checksum.
-- Returns 1, or 0 (nothing written) if this generation is no longer the one being built.
local P1, P2, P3 = 67108859, 67108837, 67108819
local fmod, format = math.fmod, string.format
local meta = redis.call('HMGET', KEYS[1], 'bgen', 'bcount', 'bsum1', 'bsum2', 'bsum3')
if meta[1] ~= ARGV[1] then
  return 0
end
local sums = {tonumber(meta[2]) or 0, tonumber(meta[3]) or 0, tonumber(meta[4]) or 0,
              tonumber(meta[5]) or 0}
local buckets = tonumber(ARGV[2])
local base = KEYS[2] .. ARGV[1] .. ':'
local i = 3
while i <= #ARGV do
  local r, k = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local key = base .. format('%d', r)
  local members = {}
  for j = 1, k do
    members[j] = ARGV[i + 1 + j]
  end
  local fresh = members
  if redis.call('SCARD', key) > 0 then
    local there = redis.call('SMISMEMBER', key, unpack(members))
    fresh = {}
    for j = 1, k do
      if there[j] == 0 then fresh[#fresh + 1] = members[j] end
    end
  end
  if #fresh > 0 then
    redis.call('SADD', key, unpack(fresh))
  end
  for j = 1, #fresh do
    local n = tonumber(fresh[j]) * buckets + r
    local x3 = fmod(n, P3)
    sums[1] = sums[1] + 1
    sums[2] = fmod(sums[2] + fmod(n, P1), P1)
    sums[3] = fmod(sums[3] + fmod(n, P2), P2)
    sums[4] = fmod(sums[4] + fmod(x3 * x3, P3), P3)
  end
  i = i + 2 + k
end
redis.call('HSET', KEYS[1], 'bcount', format('%d', sums[1]), 'bsum1', format('%d', sums[2]),
           'bsum2', format('%d', sums[3]), 'bsum3', format('%d', sums[4]))
return 1
