"""Redis: the mirror's key layout (``layout.py``), the mirror, its scripts and the job queue."""

from redis.exceptions import RedisClusterException, RedisError

# what a Redis or Redis Cluster connection raises when it cannot answer
REDIS_FAILURES = (RedisError, RedisClusterException, OSError)
