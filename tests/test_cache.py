"""rdv/cache.py: Django's Redis cache backend, keeping its clients, chosen for a Redis CACHE_URL."""

import subprocess
import sys

import pytest
from django.core.cache import cache

from .servers import REDIS_URL
from .support.processes import PROJECT_DIR, project_env


@pytest.mark.redis
def test_the_redis_cache_keeps_one_client_and_behaves_as_djangos(settings):
    settings.CACHES = {"default": {"BACKEND": "rdv.cache.RedisCache", "LOCATION": REDIS_URL,
                                   "KEY_PREFIX": "rdv-test-cache"}}
    cache.clear()
    try:
        client = cache._cache.get_client()
        assert client is cache._cache.get_client(write=True) is cache._cache.get_client("key")
        assert cache.add("n", 1, timeout=60) and not cache.add("n", 5, timeout=60)
        assert cache.incr("n") == 2
        cache.set_many({"a": {"x": 1}, "b": "text"}, timeout=60)
        assert cache.get_many(["a", "b", "n", "missing"]) == {"a": {"x": 1}, "b": "text", "n": 2}
        cache.delete_many(["a", "b"])
        assert cache.get("a") is None and cache.get("n") == 2
    finally:
        cache.clear()


def test_a_redis_cache_url_selects_it():
    env = project_env(CACHE_URL="redis://127.0.0.1:6379/1", ALLOWED_HOSTS="localhost")
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                               "print(settings.CACHES['default']['BACKEND'])"],
        env=env, cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["rdv.cache.RedisCache"]
