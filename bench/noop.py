"""Baseline: no-op Celery tasks per second, through Redis and a real 2-process worker."""

from . import broker
from . import processes
from .tasks import NOOP_QUEUE, noop

TASKS = 10_000


def run(tasks=TASKS):
    broker.flush()
    with noop.app.producer_or_acquire() as producer:
        for i in range(tasks):
            noop.apply_async((i,), queue=NOOP_QUEUE, producer=producer)
    with processes.worker(queues=[NOOP_QUEUE], name="noop-worker") as worker:
        counted, seconds = broker.wait_drained([NOOP_QUEUE], tasks)
        rss = worker.rss_mb()
    return {"noop_tasks": tasks, "noop_tasks_per_s": round(counted / seconds, 1), "noop_worker_rss_mb": rss,
            "worker_rss_mb": max(rss)}
