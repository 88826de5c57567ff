-- The rebuild's bulk load into the generation being built, keeping its checksum.
--
-- KEYS[1]  <prefix>:{<orgId>}:meta
-- KEYS[2]  <prefix>:{<orgId>}:n:, what the organization's bucket keys start with (a bucket
--          key is KEYS[2] .. <gen> .. ':' .. <r>; see infra/redis/layout.py)
-- ARGV[1]  the generation being built; ARGV[2] its bucket count
-- ARGV[3]  the groups, as one MessagePack array: [[r, [member, ...]], ...], bucket r and its
--          members as decimal strings (each n = member * buckets + r); one blob decodes in C
--          what thousands of arguments would cost Redis and the client to pass one by one
--
-- Live writes reach the generation while it loads, so a member may be there already: an empty
-- bucket (the usual case) takes every member with one SADD; otherwise SMISMEMBER first tells
-- which members are new, and only those count in the checksum.
-- Returns 1, or 0 (nothing written) if this generation is no longer the one being built.
local P1, P2, P3 = 67108859, 67108837, 67108819
local format = string.format
local meta = redis.call('HMGET', KEYS[1], 'bgen', 'bcount', 'bsum1', 'bsum2', 'bsum3')
if meta[1] ~= ARGV[1] then
  return 0
end
local count, s1, s2, s3 = tonumber(meta[2]) or 0, tonumber(meta[3]) or 0,
                          tonumber(meta[4]) or 0, tonumber(meta[5]) or 0
local buckets = tonumber(ARGV[2])
local base = KEYS[2] .. ARGV[1] .. ':'
local groups = cmsgpack.unpack(ARGV[3])
for g = 1, #groups do
  local r, members = groups[g][1], groups[g][2]
  local key = base .. format('%d', r)
  local fresh = members
  if redis.call('SCARD', key) > 0 then
    local there = redis.call('SMISMEMBER', key, unpack(members))
    fresh = {}
    for j = 1, #members do
      if there[j] == 0 then fresh[#fresh + 1] = members[j] end
    end
  end
  if #fresh > 0 then
    redis.call('SADD', key, unpack(fresh))
  end
  -- the operator %, not math.fmod: no function call; exact here (every value < 2^53)
  for j = 1, #fresh do
    local n = tonumber(fresh[j]) * buckets + r
    local x3 = n % P3
    s1 = s1 + n % P1
    s2 = s2 + n % P2
    s3 = s3 + x3 * x3 % P3
  end
  count, s1, s2, s3 = count + #fresh, s1 % P1, s2 % P2, s3 % P3
end
redis.call('HSET', KEYS[1], 'bcount', format('%d', count), 'bsum1', format('%d', s1),
           'bsum2', format('%d', s2), 'bsum3', format('%d', s3))
return 1
