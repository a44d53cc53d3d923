"""One rate per provider, shared by every worker process and host: a token bucket in Redis.

SMS_RATE_LIMIT / EMAIL_RATE_LIMIT are the rates agreed with a provider. Counted per process
(Celery's rate_limit), N worker processes would send N times that; counted here, in the Redis of
Django's cache (CACHE_URL), they are the rate of the whole deployment.

    waited = throttle.acquire("twilio", settings.SMS_RATE_LIMIT)   # blocks until a token is granted
    throttle.pause("twilio", error.retry_after)                   # after a 429: everyone holds back

- The bucket of a provider fills at the limit's rate up to about one second of tokens (at least
  one): a quiet provider may take a one-second burst, then the steady rate.
- Each attempt is one Lua script (atomic in Redis) that reads the time from Redis (`TIME`), so
  every host shares one clock; tests pass `now` instead (`take()`, `pause()`, or the module's
  `clock` hook) and never depend on the wall clock.
- `pause()` is back-pressure: after "too many requests" (ProviderThrottled, notifications/errors.py)
  no process takes a token of that provider until the pause ends, and the bucket then starts
  empty, so sending resumes at the steady rate rather than with a burst.
- A provider's state is one small hash (`throttle:{provider}` under the cache's KEY_PREFIX) that
  expires by itself a minute after the bucket would be full again (or its pause is over): an
  idle provider leaves nothing behind.
- Thread-safe: in one process, the threads acquiring a token of one provider queue on a lock, so
  only one of them at a time polls Redis (and sleeps until the next token); a process makes
  one Redis call per token, two when it had to wait for it, however many threads send.

Without Redis (CACHES default is locmem: development, tests without Redis), or while Redis does
not answer (retried every REDIS_RETRY_SECONDS, with a warning), the bucket is kept in this
process only, with the same arithmetic: each process then has the whole rate to itself.
"""

import logging
import threading
import time

import redis
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger(__name__)

# Tests replace these to make waiting deterministic: `clock` returns "now" in seconds (None:
# Redis' TIME, or time.monotonic for the per-process buckets); `sleep` waits.
clock = None
sleep = time.sleep

# A Retry-After longer than this is not honoured as such: a sending thread blocked for longer
# would look hung; after this pause one request finds out whether the provider still refuses.
MAX_PAUSE = 60.0
# After Redis failed, use the per-process buckets for this long before trying it again.
REDIS_RETRY_SECONDS = 5.0
# A grant needs one token; floating-point sums of refills may land a hair below it.
EPSILON = 1e-9
# Kept this long after the bucket would be full again (or a pause is over), when a missing key
# means the same as the one kept; a minute, so that tests with an injected clock (whose real
# time keeps running) never see it expire between two steps.
IDLE_MS = 60_000

_UNITS = {"s": 1, "m": 60, "h": 3600}

# Both scripts: `read_clock(arg)` is the injected time, or Redis' own clock (one for every host);
# `fmt(x)` writes a number without losing digits (Lua's tostring keeps 14).
PRELUDE = """
local function read_clock(arg)
  local injected = tonumber(arg)
  if injected then
    return injected
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.17g', x) end
"""

# KEYS[1]: the provider's hash {tokens, ts, paused_until}. ARGV: rate (tokens a second),
# capacity, now ("" = Redis' TIME). Returns, as a string (a Lua number would be truncated to
# an integer), 0 when a token was granted, else the seconds to wait before asking again.
TAKE = PRELUDE + """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = read_clock(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'paused_until')
local paused_until = tonumber(state[3]) or 0
if paused_until > now then
  return fmt(paused_until - now)
end
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = tokens + (now - ts) * rate
  ts = now
end
tokens = math.min(tokens, capacity)
local wait = 0
if tokens >= 1 - EPSILON then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', fmt(tokens), 'ts', fmt(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(ts, now) - now + capacity / rate) * 1000) + IDLE_MS)
return fmt(wait)
""".replace("EPSILON", repr(EPSILON)).replace("IDLE_MS", str(IDLE_MS))

# KEYS[1]: the provider's hash. ARGV: seconds, now ("" = Redis' TIME). A pause only ever
# lengthens one in force; the bucket starts empty when it ends.
PAUSE = PRELUDE + """
local seconds = tonumber(ARGV[1])
local now = read_clock(ARGV[2])
local ends = now + seconds
local paused_until = tonumber(redis.call('HGET', KEYS[1], 'paused_until')) or 0
if paused_until >= ends then
  return 0
end
redis.call('HSET', KEYS[1], 'paused_until', fmt(ends), 'tokens', '0', 'ts', fmt(ends))
local ttl = math.ceil(seconds * 1000) + IDLE_MS
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
""".replace("IDLE_MS", str(IDLE_MS))


def parse_rate(limit):
    """Celery's "100/s", "20/m", "1000/h" (a bare number: per second) as tokens a second;
    None for no limit (None, "", 0, as Celery takes them)."""
    if not limit:
        return None
    count, _, unit = str(limit).strip().partition("/")
    try:
        rate = float(count) / _UNITS[unit.strip() or "s"]
    except (KeyError, ValueError):
        raise ValueError(f"rate limit {limit!r}: expected a number per s, m or h, like 100/s") from None
    if rate < 0:
        raise ValueError(f"rate limit {limit!r} is negative")
    return rate or None


def capacity_for(rate):
    """About one second of tokens, at least one."""
    return max(1.0, rate)


def acquire(provider, limit):
    """Block until `provider` grants one token under `limit` ("100/s"; None or "": no limit).
    Returns the seconds this call was held back (0.0 when granted at once): waiting for a
    token, for a pause, or behind this process's other threads waiting for the same provider."""
    rate = parse_rate(limit)
    if rate is None:
        return 0.0
    elapsed = clock or time.monotonic
    lock = _provider_lock(provider)
    started = None
    if not lock.acquire(blocking=False):
        started = elapsed()
        lock.acquire()
    try:
        while True:
            wait = take(provider, rate, now=clock() if clock else None)
            if wait <= 0:
                break
            if started is None:
                started = elapsed()
            sleep(wait)
    finally:
        lock.release()
    return 0.0 if started is None else max(0.0, elapsed() - started)


def pause(provider, seconds, *, now=None):
    """Back-pressure: no process takes a token of `provider` for `seconds` (at most MAX_PAUSE),
    e.g. a 429's Retry-After; acquire() waits it out. Never shortens a pause in force."""
    seconds = min(float(seconds), MAX_PAUSE)
    if seconds <= 0:
        return
    if now is None and clock is not None:
        now = clock()
    backend = _redis_cache()
    if backend is not None:
        try:
            _run(backend, PAUSE, provider, [seconds, "" if now is None else now])
            return
        except redis.RedisError as exc:
            _redis_failed(exc)
    _local.pause(provider, seconds, time.monotonic() if now is None else now)


def take(provider, rate, *, now=None):
    """One attempt, without waiting: 0.0 when a token of `provider` was granted (the bucket
    filling at `rate` tokens a second), else the seconds to wait before the next attempt.
    `now` (seconds; tests) replaces Redis' clock."""
    capacity = capacity_for(rate)
    backend = _redis_cache()
    if backend is not None:
        try:
            return float(_run(backend, TAKE, provider, [rate, capacity, "" if now is None else now]))
        except redis.RedisError as exc:
            _redis_failed(exc)
    return _local.take(provider, rate, capacity, time.monotonic() if now is None else now)


# --- Redis --------------------------------------------------------------------------------------

_redis_down_until = 0.0
_scripts = {}
_locks = {}
_locks_lock = threading.Lock()
_thread = threading.local()


def _provider_lock(provider):
    with _locks_lock:
        return _locks.setdefault(provider, threading.Lock())


def _redis_cache():
    """Django's default cache when it is Redis (and answered lately), else None."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache) or time.monotonic() < _redis_down_until:
        return None
    return backend


def _client(backend):
    """A redis-py client on the cache's connection pool. `_cache` is Django's RedisCacheClient
    (django/core/cache/backends/redis.py); its get_client() builds a new client object at each
    call (about 60 µs), so each thread keeps the one it built for its cache."""
    cache_client = backend._cache
    if getattr(_thread, "cache_client", None) is not cache_client:
        _thread.redis = cache_client.get_client(write=True)
        _thread.cache_client = cache_client
    return _thread.redis


def _run(backend, source, provider, args):
    client = _client(backend)
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = client.register_script(source)
    # The provider in braces: a Redis Cluster hash tag, should the state ever grow a second key.
    return script(keys=[backend.make_key(f"throttle:{{{provider}}}")], args=args, client=client)


def _redis_failed(exc):
    global _redis_down_until
    _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
    log.warning("provider rate limits: Redis unreachable (%s), counted per process for %ss",
                exc.__class__.__name__, REDIS_RETRY_SECONDS)


# --- Without Redis: the same bucket, in this process ------------------------------------------


class LocalBuckets:
    """The Lua scripts' arithmetic over a dict, for one process (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state = {}  # provider -> [tokens, ts, paused_until]

    def take(self, provider, rate, capacity, now):
        with self._lock:
            state = self._state.setdefault(provider, [capacity, now, 0.0])
            tokens, ts, paused_until = state
            if paused_until > now:
                return paused_until - now
            if now > ts:
                tokens, ts = tokens + (now - ts) * rate, now
            tokens = min(tokens, capacity)
            wait = 0.0
            if tokens >= 1 - EPSILON:
                tokens -= 1
            else:
                wait = (1 - tokens) / rate
            state[:] = [tokens, ts, paused_until]
            return wait

    def pause(self, provider, seconds, now):
        ends = now + seconds
        with self._lock:
            state = self._state.get(provider)
            if state is not None and state[2] >= ends:
                return
            self._state[provider] = [0.0, ends, ends]

    def clear(self):
        with self._lock:
            self._state.clear()


_local = LocalBuckets()


def reset():
    """Forget this process's buckets and any Redis failure (tests)."""
    global _redis_down_until
    _redis_down_until = 0.0
    _local.clear()

