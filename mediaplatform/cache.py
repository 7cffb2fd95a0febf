"""Django's Redis cache with one connection pool per Redis server for the whole process.

Django's cache handler keeps a cache object per thread, and per request context under ASGI; Django's Redis
backend gives every cache object a connection pool of its own. Behind Daphne that was a pool, and an open
connection, for every request that touched the cache (the API's rate limit: all of them), and with the rate
limiter's per-pool script keeping each pool alive, Redis ran out of connections ("max number of clients
reached") at about 100 requests/s within a minute. redis-py's pools are thread-safe and reset themselves
after a fork, so one per server is enough.
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[tuple, object] = {}
_pools_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        server = self._servers[self._get_connection_pool_index(write)]
        options = tuple(sorted((name, repr(value)) for name, value in self._pool_options.items()))
        key = (self._pool_class, server, options)
        pool = _pools.get(key)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(server, **self._pool_options)
        return pool


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
