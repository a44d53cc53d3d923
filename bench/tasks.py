"""The no-op task of the baseline, loaded into the bench's worker with `-I bench.tasks`."""

from celery import shared_task

NOOP_QUEUE = "bench"


@shared_task(name="bench.noop", ignore_result=True)
def noop(i):
    return None
