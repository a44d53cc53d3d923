"""Django's Redis cache backend, keeping its redis-py clients.

Django's RedisCacheClient.get_client() builds a new redis.Redis for every cache call. Building
one (its table of response callbacks) cost a notification worker 0.19 ms of CPU per message,
a few cache calls each (py-spy, README "Benchmarks"). A redis.Redis is thread-safe (each
command takes a connection from the pool) and follows a fork (the pool notices a new pid), so
one per connection pool is kept. Settings select it for every CACHE_URL on Redis.
"""

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
