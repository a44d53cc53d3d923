"""The bench's Redis database: emptied between measurements, watched until queues drain."""

import time

import redis

from .env import BROKER_URL


def client():
    return redis.Redis.from_url(BROKER_URL)


def flush():
    client().flushdb()


def pending(r, queues):
    """Messages still queued or delivered but not yet acknowledged (acks_late)."""
    return sum(r.llen(q) for q in queues) + r.hlen("unacked")


def wait_drained(queues, total, timeout=3600, poll=0.005):
    """Time from the first message taken to the last one acknowledged; returns
    (messages counted, seconds)."""
    r = client()
    deadline = time.monotonic() + timeout
    while pending(r, queues) >= total:
        if time.monotonic() > deadline:
            raise TimeoutError("no message was consumed")
        time.sleep(poll)
    started, left = time.monotonic(), pending(r, queues)
    while pending(r, queues):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pending(r, queues)} messages still pending")
        time.sleep(poll)
    return left, time.monotonic() - started
