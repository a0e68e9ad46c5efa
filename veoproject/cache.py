"""Django's Redis cache, keeping one redis-py client per connection pool.

Django's client makes a new `redis.Redis` object for every cache operation;
redis-py builds a table of ~170 response callbacks in each one. For the
status.json checks of open job pages (a session read and one `get_many`),
that was three quarters of the CPU a check cost. A `redis.Redis` is safe to
share between threads (each command takes a connection from the pool)."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
