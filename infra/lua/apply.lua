-- Bring the mirror in line with Postgres for some numbers, atomically.
--
-- KEYS[1]  <prefix>:{<orgId>}:meta
-- ARGV[1]  '1' or '0' to store the DNC enabled flag, '' to leave it
-- ARGV[2]  k, how many of the numbers that follow are to be added
-- ARGV[3..2+k] numbers to add; ARGV[3+k..] numbers to remove
--
-- Writes to the live generation and to the one a rebuild is building, whichever exist.
-- Returns 1 if a live generation exists, else 0 (the mirror is not ready).
local meta = redis.call('HMGET', KEYS[1], 'gen', 'buckets', 'bgen', 'bbuckets')
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'enabled', ARGV[1])
end
local base = string.sub(KEYS[1], 1, -5) .. 'n:'
local k = tonumber(ARGV[2])
local function write(gen, buckets, command, first, last)
  buckets = tonumber(buckets)
  for i = first, last do
    local n = tonumber(ARGV[i])
    local r = math.fmod(n, buckets)
    redis.call(command, base .. gen .. ':' .. string.format('%d', r),
               string.format('%d', (n - r) / buckets))
  end
end
for _, g in ipairs({{meta[1], meta[2]}, {meta[3], meta[4]}}) do
  if g[1] and g[2] then
    write(g[1], g[2], 'SADD', 3, 2 + k)
    write(g[1], g[2], 'SREM', 3 + k, #ARGV)
  end
end
if meta[1] then return 1 end
return 0
