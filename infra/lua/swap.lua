-- Make a fully built generation the live one and mark the mirror ready, atomically. The
-- server's run_id is stamped on it: a mirror restored by another process reads as not ready.
-- KEYS[1] meta; ARGV: generation, buckets, enabled ('1'/'0'), rebuilt-at (ISO time), count.
-- Returns {1, old generation, old buckets}, or {0} if another rebuild has taken over.
local current = redis.call('HMGET', KEYS[1], 'bgen', 'gen', 'buckets')
if current[1] ~= ARGV[1] then
  return {0}
end
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'buckets', ARGV[2], 'enabled', ARGV[3],
           'ready', '1', 'rebuilt_at', ARGV[4], 'rebuilt_count', ARGV[5], 'run_id', run_id)
redis.call('HDEL', KEYS[1], 'bgen', 'bbuckets')
return {1, current[2] or '', current[3] or ''}
