-- Make a fully built generation the live one and mark the mirror ready, atomically. The
-- server's run_id is stamped on it: a mirror restored by another process reads as not ready.
-- The build's checksum becomes the live one.
-- KEYS[1] meta; KEYS[2] the bucket keys' prefix (unused: every script takes the same keys,
-- see infra/redis/layout.py); ARGV: generation, buckets, enabled ('1'/'0', '' for a named
-- list: the flag is the organization's), rebuilt-at (ISO time), count, then for the org-wide
-- list the organization's prefix rules (joined by ','; '-' for any other list), and for a
-- shared list its fresh_until (seconds since 1970), stored with it in the same step.
-- Returns {1, old generation, old buckets}, or {0} if another rebuild has taken over.
local current = redis.call('HMGET', KEYS[1], 'bgen', 'gen', 'buckets',
                           'bcount', 'bsum1', 'bsum2', 'bsum3')
if current[1] ~= ARGV[1] then
  return {0}
end
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'buckets', ARGV[2], 'ready3', '1',
           'rebuilt_at', ARGV[4], 'rebuilt_count', ARGV[5], 'run_id', run_id)
-- 'ready' was the flag before lists, 'ready2' before shared lists: a copy of a script of
-- then must not find it (see check.lua)
redis.call('HDEL', KEYS[1], 'ready', 'ready2')
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'enabled', ARGV[3])
end
if ARGV[6] and ARGV[6] ~= '-' then
  redis.call('HSET', KEYS[1], 'prefixes', ARGV[6])
end
if ARGV[7] then
  redis.call('HSET', KEYS[1], 'fresh_until', ARGV[7])
end
if current[4] and current[5] and current[6] and current[7] then
  redis.call('HSET', KEYS[1], 'count', current[4], 'sum1', current[5], 'sum2', current[6],
             'sum3', current[7])
else
  redis.call('HDEL', KEYS[1], 'count', 'sum1', 'sum2', 'sum3')
end
redis.call('HDEL', KEYS[1], 'bgen', 'bbuckets', 'bcount', 'bsum1', 'bsum2', 'bsum3')
return {1, current[2] or '', current[3] or ''}
