"""Rate limits of the public forms, counted in Django's cache (Redis in production).

Fixed windows: the first hit of a key starts a window of `seconds`; `count` hits are allowed
in it. Keys are hashed with the SECRET_KEY so that neither client addresses nor phone
numbers are stored in the cache as they are.
"""

import functools
import hashlib
import hmac
import ipaddress

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.template.response import TemplateResponse


class RateLimited(Exception):
    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


def _ip(value):
    """The address in `value`, or None when it is not one (garbage a client wrote)."""
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


@functools.lru_cache(maxsize=8)
def _networks(proxies):
    return [ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies]


def _trusted(address):
    return address is not None and any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_address(request):
    """The address of the client, as Django deployments behind known proxies take it.

    Only a request that comes from one of our own proxies (TRUSTED_PROXIES) has its forwarding
    headers read; anyone else talking to gunicorn directly is REMOTE_ADDR, whatever headers they
    wrote. Behind our proxies, X-Forwarded-For is read from the right: each proxy appends the
    address it saw, so the right-most entry that is not one of ours is the client; entries to
    its left were written by the client and prove nothing. CLIENT_IP_HEADER names instead a
    header our proxy overwrites with the one address it saw (e.g. HTTP_X_REAL_IP).

    The one function for every count (the public rate limits, the booking caps, django-axes).
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if not _trusted(_ip(remote)):
        return remote
    if settings.CLIENT_IP_HEADER:
        value = _ip(request.META.get(settings.CLIENT_IP_HEADER, ""))
        return str(value) if value is not None else remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    client = remote
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            # Our proxy appended nothing like this: whatever is left of it is the client's.
            break
        client = str(address)
        if not _trusted(address):
            break
    return client


def _key(rule, value):
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{rule}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"ratelimit:{rule}:{digest}"


def consume(rule, value, count, seconds):
    """Count one use of `value` under `rule`; False once more than `count` were counted in the
    window of `seconds` that the first one started. Atomic across processes with Redis."""
    key = _key(rule, value)
    if cache.add(key, 1, timeout=seconds):
        return True
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add() and incr(): a new window
        cache.add(key, 1, timeout=seconds)
        return True
    return used <= count


def consume_many(uses):
    """consume() for many (rule, value, count, seconds) at once, in order; returns a list of
    booleans. On Redis one round trip for all of them (a MULTI/EXEC of SET NX + INCR per use:
    the same keys and counters as consume(), atomic, so that a key cannot expire between its
    two commands); with another cache, consume() one after the other."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return [consume(*use) for use in uses]
    if not uses:
        return []
    # backend._cache is Django's RedisCacheClient (django/core/cache/backends/redis.py): its
    # client shares the cache's connection pool. Integers are stored as they are (its
    # RedisSerializer), so cache.incr() and used() read these counters.
    with backend._cache.get_client(write=True).pipeline(transaction=True) as pipe:
        for rule, value, _, seconds in uses:
            key = backend.make_and_validate_key(_key(rule, value))
            pipe.set(key, 0, ex=seconds, nx=True)
            pipe.incr(key)
        replies = pipe.execute()
    return [used <= count for used, (_, _, count, _) in zip(replies[1::2], uses, strict=True)]


def used(rule, value):
    """How many uses of `value` the current window of `rule` counted (0 when none)."""
    return cache.get(_key(rule, value), 0)


def hit(rule, value):
    """Count one attempt for `value` under `rule` (a key of PUBLIC_RATE_LIMITS); raise
    RateLimited once the rule's count is exceeded within its window."""
    count, seconds = settings.PUBLIC_RATE_LIMITS[rule]
    if not consume(rule, value, count, seconds):
        raise RateLimited(seconds)


def rate_limited_response(request, error):
    response = TemplateResponse(
        request, "appointments/public/rate_limited.html", {}, status=429
    )
    response["Retry-After"] = str(error.retry_after)
    return response
