"""The provider-wide rate (notifications/throttle.py): one token bucket per provider in Redis,
shared by every worker process, and back-pressure when a provider answers "too many requests"
(ProviderThrottled: Twilio 429 / 20429, Brevo 429), which the circuit breaker does not count as
a failure.

Every bucket test injects the clock (`now`, or throttle.clock with a fake sleep that moves it):
no assertion depends on how fast this machine runs. The bucket tests run twice: on Redis and on
the per-process fallback used when Django's cache is not Redis."""

import multiprocessing
import os
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import redis
import requests
from django.test import override_settings

from notifications import throttle
from notifications.errors import DEFAULT_RETRY_AFTER, ProviderThrottled, ProviderUnavailable, TransientDeliveryError, retry_after
from notifications.sms import SmsMessage, get_sms_backend

from .servers import REDIS_URL

T0 = 1_000_000.0  # an instant on the injected clock (seconds)
RATE = 8.0  # tokens a second: a power of two, so that every wait below is exact in binary
CAPACITY = throttle.capacity_for(RATE)  # one second of tokens


def granted(provider, now, attempts, rate=RATE):
    """How many of `attempts` asked at the instant `now` were granted."""
    return sum(throttle.take(provider, rate, now=now) == 0 for _ in range(attempts))


def redis_caches(prefix):
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                        "KEY_PREFIX": prefix}}


@pytest.fixture
def shared_redis(settings):
    """Django's cache on this checkout's Redis database, under this test's own prefix (removed
    at the end)."""
    prefix = f"rdv-test-throttle-{uuid.uuid4().hex[:8]}"
    settings.CACHES = redis_caches(prefix)
    throttle.reset()
    yield settings.CACHES
    server = redis.Redis.from_url(REDIS_URL)
    for key in server.scan_iter(f"{prefix}:*"):
        server.delete(key)


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "locmem"])
def buckets(request, settings):
    """The same tests on Redis and on the per-process fallback (Django's cache in memory)."""
    if request.param == "redis":
        request.getfixturevalue("shared_redis")
    else:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    throttle.reset()
    yield request.param
    throttle.reset()


class FakeClock:
    """throttle.clock and throttle.sleep: sleeping moves the clock by exactly the time asked.
    `most_asleep`: the most threads that were in sleep() at once."""

    def __init__(self, now=T0):
        self.now = now
        self.slept = []
        self.asleep = self.most_asleep = 0
        self._lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        with self._lock:
            self.slept.append(seconds)
            self.asleep += 1
            self.most_asleep = max(self.most_asleep, self.asleep)
        time.sleep(0)  # let the other threads run meanwhile, as a real sleep would
        with self._lock:
            self.now += seconds
            self.asleep -= 1


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(throttle, "clock", clock)
    monkeypatch.setattr(throttle, "sleep", clock.sleep)
    return clock


# --- The bucket ----------------------------------------------------------------------------------


def test_limits_are_read_as_celery_writes_them():
    assert [throttle.parse_rate(limit) for limit in ("100/s", "20/m", "1800/h", "5", " 3/s ")] == [100, 1 / 3, 0.5, 5, 3]
    assert [throttle.parse_rate(limit) for limit in (None, "", "0/s")] == [None, None, None]
    for wrong in ("fast", "5/d", "-1/s"):
        with pytest.raises(ValueError):
            throttle.parse_rate(wrong)
    assert [throttle.capacity_for(rate) for rate in (100, 8, 0.5)] == [100, 8, 1]


def test_a_bucket_grants_its_capacity_at_one_instant_then_its_rate(buckets):
    assert granted("twilio", T0, 3 * int(CAPACITY)) == CAPACITY
    assert throttle.take("twilio", RATE, now=T0) == 1 / RATE  # when the next token comes
    assert granted("twilio", T0 + 0.5, 10) == RATE * 0.5
    assert granted("twilio", T0 + 0.5 + 0.25, 10) == RATE * 0.25
    # An idle bucket fills up to its capacity, not beyond.
    assert granted("twilio", T0 + 60, 100) == CAPACITY


def test_a_slow_rate_holds_one_token(buckets):
    rate = throttle.parse_rate("20/m")
    assert granted("brevo", T0, 5, rate) == 1
    assert throttle.take("brevo", rate, now=T0 + 1) == pytest.approx(2.0)
    assert granted("brevo", T0 + 3, 5, rate) == 1


def test_each_provider_has_its_own_bucket(buckets):
    assert granted("twilio", T0, 20) == CAPACITY
    assert granted("brevo", T0, 20) == CAPACITY
    assert granted("smtp", T0, 20, rate=2.0) == 2
    assert granted("twilio", T0, 1) == 0


def test_a_pause_stops_every_grant_until_it_ends_then_sending_resumes_at_the_rate(buckets):
    assert granted("twilio", T0, 1) == 1
    throttle.pause("twilio", 2.5, now=T0)
    assert throttle.take("twilio", RATE, now=T0 + 1) == 1.5  # the rest of the pause
    assert granted("twilio", T0 + 2.5 - 1 / 1024, 20) == 0
    assert granted("brevo", T0 + 1, 20) == CAPACITY  # another provider is not paused
    # The bucket starts empty when the pause ends: the steady rate, not a burst.
    assert throttle.take("twilio", RATE, now=T0 + 2.5) == 1 / RATE
    assert granted("twilio", T0 + 3, 20) == RATE * 0.5


def test_a_pause_is_never_shortened_and_never_longer_than_max_pause(buckets):
    throttle.pause("twilio", 10, now=T0)
    throttle.pause("twilio", 1, now=T0 + 1)  # a shorter Retry-After does not end the first pause
    assert throttle.take("twilio", RATE, now=T0 + 5) == 5
    throttle.pause("brevo", 3600, now=T0)
    assert throttle.take("brevo", RATE, now=T0) == throttle.MAX_PAUSE
    assert granted("brevo", T0 + throttle.MAX_PAUSE + 1, 20) == RATE


@pytest.mark.redis
def test_worker_processes_share_one_bucket(shared_redis):
    """Four OS processes, each with Django set up on its own, ask for tokens at one frozen
    instant: exactly the bucket's capacity is granted, all of them together."""
    processes, attempts = 4, 30
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    children = [context.Process(target=take_at_one_instant,
                                args=(shared_redis, "twilio", RATE, T0, attempts, barrier, results))
                for _ in range(processes)]
    for child in children:
        child.start()
    try:
        counts = [results.get(timeout=120) for _ in children]
    finally:
        for child in children:
            child.join(timeout=30)
    assert all(child.exitcode == 0 for child in children)
    assert processes * attempts > CAPACITY  # each alone would have been granted CAPACITY
    assert sum(counts) == CAPACITY
    assert granted("twilio", T0, 1) == 0  # this process finds the bucket they emptied


def take_at_one_instant(caches_setting, provider, rate, now, attempts, barrier, results):
    """The body of each process of the test above (spawned: a fresh interpreter)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    with override_settings(CACHES=caches_setting):
        barrier.wait(timeout=60)
        results.put(granted(provider, now, attempts, rate))


# --- acquire(): blocking, thread-safe ---------------------------------------------------------------


def test_acquire_without_a_limit_returns_at_once(monkeypatch):
    monkeypatch.setattr(throttle, "take", lambda *args, **kwargs: pytest.fail("no bucket without a limit"))
    assert throttle.acquire("twilio", None) == 0.0 and throttle.acquire("twilio", "") == 0.0


def test_acquire_waits_for_the_next_token_and_says_how_long(buckets, fake_clock):
    assert [throttle.acquire("twilio", "8/s") for _ in range(int(CAPACITY))] == [0.0] * int(CAPACITY)
    assert throttle.acquire("twilio", "8/s") == 1 / RATE
    assert fake_clock.now == T0 + 1 / RATE


def test_acquire_waits_out_a_pause(buckets, fake_clock):
    throttle.pause("twilio", 2.5)
    # The pause, then the first token of the emptied bucket.
    assert throttle.acquire("twilio", "8/s") == 2.5 + 1 / RATE
    assert fake_clock.slept == [2.5, 1 / RATE]


def test_acquire_is_thread_safe(buckets, fake_clock, monkeypatch):
    """Eight threads take 25 tokens each. Every token is granted once (the clock moves by
    exactly the time the bucket needs to refill that many), and the threads of one process
    queue for the provider rather than poll it together: one of them at a time sleeps until
    the next token, and each token costs one attempt, plus one refused attempt when it had to
    be waited for, never more."""
    threads, each = 8, 25
    errors, waits, attempts = [], [], []
    take = throttle.take

    def counted_take(*args, **kwargs):
        attempts.append(1)
        return take(*args, **kwargs)

    monkeypatch.setattr(throttle, "take", counted_take)

    def send():
        try:
            for _ in range(each):
                waits.append(throttle.acquire("twilio", "8/s"))
        except Exception as exc:  # reported below, with the assertion
            errors.append(exc)

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers) and errors == []
    assert len(waits) == threads * each and min(waits) >= 0
    waited_for = threads * each - CAPACITY
    assert fake_clock.now - T0 == waited_for / RATE
    assert len(attempts) == threads * each + waited_for
    assert fake_clock.most_asleep == 1
    assert throttle.take("twilio", RATE, now=fake_clock.now) > 0  # not one token more was left


def test_an_unreachable_redis_falls_back_to_a_per_process_bucket(settings, caplog):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0"}}  # nothing listens there
    throttle.reset()
    try:
        assert granted("twilio", T0, 20) == CAPACITY
        assert [r.getMessage() for r in caplog.records if r.name == "notifications.throttle"] == [
            "provider rate limits: Redis unreachable (ConnectionError), counted per process for 5.0s"]
    finally:
        throttle.reset()


@pytest.mark.redis
def test_the_state_is_one_small_key_per_provider_that_expires_by_itself(shared_redis):
    granted("twilio", None, 1)
    server = redis.Redis.from_url(REDIS_URL)
    prefix = shared_redis["default"]["KEY_PREFIX"]
    [key] = list(server.scan_iter(f"{prefix}:*"))
    assert key.decode() == f"{prefix}:1:throttle:{{twilio}}"
    assert set(server.hgetall(key)) == {b"tokens", b"ts"}
    assert 0 < server.pttl(key) <= 1000 * (CAPACITY / RATE) + throttle.IDLE_MS


# --- 429: back-pressure, not failure ---------------------------------------------------------------

MESSAGE = SmsMessage(to="+33612345678", body="RDV le mar. 12/03 à 14h30")


@pytest.mark.parametrize("retry_after_header, expected", [(1, 1.0), (7, 7.0), (None, DEFAULT_RETRY_AFTER)])
def test_a_twilio_429_is_throttled_for_its_retry_after(twilio_standin, retry_after_header, expected):
    twilio_standin.fail_next(1, status=429, code=20429, retry_after=retry_after_header)
    with override_settings(**twilio_standin.settings(from_="RDV")):
        [result] = get_sms_backend("twilio").send_messages([MESSAGE])
    error = result.error
    assert isinstance(error, ProviderThrottled) and error.throttled and error.transient and not error.provider_down
    assert (error.code, error.status, error.retry_after, error.provider) == ("20429", 429, expected, "twilio")


def test_twilio_error_20429_is_throttled_whatever_its_http_status(twilio_standin):
    twilio_standin.fail_next(1, status=503, code=20429)
    with override_settings(**twilio_standin.settings(from_="RDV")):
        [result] = get_sms_backend("twilio").send_messages([MESSAGE])
    assert isinstance(result.error, ProviderThrottled) and result.error.retry_after == DEFAULT_RETRY_AFTER


def test_a_brevo_429_is_throttled_until_its_rate_limit_window_resets(brevo_standin):
    brevo_standin.fail_next(1, status=429, reset=3)
    with override_settings(**brevo_standin.settings()):
        [result] = get_sms_backend("brevo").send_messages([MESSAGE])
    assert isinstance(result.error, ProviderThrottled)
    assert (result.error.status, result.error.retry_after, result.error.provider) == (429, 3.0, "brevo")


def test_an_esp_429_is_throttled_too():
    from anymail.exceptions import AnymailRequestsAPIError

    from notifications.mail import classify

    response = requests.Response()
    response.status_code, response._content = 429, b"{}"
    response.headers["Retry-After"] = "4"
    error = classify(AnymailRequestsAPIError(response=response))
    assert isinstance(error, ProviderThrottled) and error.retry_after == 4.0


def test_retry_after_reads_seconds_or_an_http_date(time_machine):
    time_machine.move_to(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc), tick=False)
    in_30_seconds = format_datetime(datetime(2026, 3, 2, 9, 0, 30, tzinfo=timezone.utc), usegmt=True)
    assert retry_after({"Retry-After": in_30_seconds}) == 30.0
    assert retry_after({"Retry-After": "2"}) == 2.0
    assert retry_after({"Retry-After": format_datetime(datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc))}) == 0.0
    assert retry_after({"Retry-After": "soon"}) is None and retry_after({}) is None


@pytest.fixture
def twilio_then_brevo(twilio_standin, brevo_standin, settings, db):
    for name, value in {**twilio_standin.settings(from_="RDV"), **brevo_standin.settings()}.items():
        setattr(settings, name, value)
    settings.SMS_BACKENDS = ["twilio", "brevo"]
    settings.SMS_BREAKER_FAILURES = 2
    return twilio_standin, brevo_standin


def test_throttled_answers_neither_open_the_breaker_nor_break_a_run_of_failures(twilio_then_brevo):
    from notifications.models import SmsProviderEvent
    from notifications.sms.breaker import Breaker
    from notifications.sms.router import SmsRouter

    twilio, brevo = twilio_then_brevo
    router = SmsRouter()

    def attempt():
        try:
            return router.send(MESSAGE)[0]
        except TransientDeliveryError as error:
            return error.__class__.__name__

    twilio.fail_next(5, status=429)
    assert [attempt() for _ in range(5)] == ["ProviderThrottled"] * 5
    assert Breaker("twilio").state() == "closed" and not SmsProviderEvent.objects.exists()
    # 503, 429, 503: two failures in a row (the 429 between them counts for nothing): open.
    twilio.fail_next(1, status=503)
    twilio.fail_next(1, status=429)
    twilio.fail_next(1, status=503)
    assert [attempt() for _ in range(3)] == ["TransientDeliveryError", "ProviderThrottled", "TransientDeliveryError"]
    assert Breaker("twilio").state() == "open"
    assert attempt() == "brevo"
    assert list(SmsProviderEvent.objects.values_list("provider", "kind")) == [("twilio", "failover")]


def test_a_throttled_probe_hands_the_probe_back(db, settings, time_machine):
    from notifications.sms.breaker import Breaker

    time_machine.move_to(datetime.now(timezone.utc), tick=False)
    breaker = Breaker("twilio")
    breaker.failure(ProviderUnavailable("402", code="402"))
    time_machine.shift(timedelta(seconds=settings.SMS_BREAKER_OPEN_SECONDS + 1))
    assert breaker.allow() and not breaker.allow()  # one probe, taken
    breaker.throttled()
    assert breaker.state() == "half_open" and breaker.allow()  # the next message probes
