-- Announce a generation being built, so live writes reach it too; its checksum starts empty.
-- KEYS[1] meta; KEYS[2] the bucket keys' prefix (unused: every script takes the same keys,
-- see infra/redis/layout.py); ARGV[1] the new generation; ARGV[2] its bucket count.
-- Returns the generation and bucket count an earlier, unfinished rebuild left behind (or nils).
local old = redis.call('HMGET', KEYS[1], 'bgen', 'bbuckets')
redis.call('HSET', KEYS[1], 'bgen', ARGV[1], 'bbuckets', ARGV[2],
           'bcount', '0', 'bsum1', '0', 'bsum2', '0', 'bsum3', '0')
return old
