"""Which worker process holds which records, and whether it is still alive.

Redis gives a message held by a worker that died back only after its visibility timeout (an
hour), and a record caught mid-send would wait for the stalled-record sweep. Instead, as
GoodJob does, every worker process holds a PostgreSQL session-level advisory lock on a
connection of its own for its whole life: when the process dies, however (SIGKILL included),
PostgreSQL drops its connection and the lock with it, at once. The recovery task
(recovery.py) takes each lock it finds named on a record or a lease: if it gets it, the owner is
dead and its records are settled now, not in an hour.

- `claimed_by` on a record names the process that claimed it (delivery.claim_many).
- A lease (DeliveryLease) names the records a batch task was given, for as long as it runs:
  those still pending when its process is found dead go back to the queue.
- "Not yet requested" marks, in the shared cache (Redis): a batch marks the records it claims,
  and the sending thread removes a record's mark just before its request leaves (after the
  breakers' reads and any wait for the provider's rate: batches.send). A dead
  worker's claimed record still marked never reached the provider: it is released and sent
  again. Without a mark (or with a per-process cache) it is in doubt: flagged, never resent.

Only worker processes (Celery's worker_process_init / worker_init) take a lock and name
themselves; elsewhere (eager tasks in tests, a shell) `worker_id()` is "" and records are
recovered by age only (recovery.STALLED_AFTER). The same on a database without advisory locks
(SQLite in development).

A live worker taken for dead (its lock connection broke: a database restart) is safe: its
records in flight are flagged 'uncertain', never sent again, and its pending ones enqueued
again, which claiming makes harmless.
"""

import hashlib
import logging
import os
import secrets
import socket
import threading

from celery.signals import worker_init, worker_process_init
from django.core.cache import cache
from django.db import connection

from .models import DeliveryLease

log = logging.getLogger(__name__)

_process = {"pid": None, "id": "", "lock": None}
_process_lock = threading.Lock()


def lock_key(worker):
    """The advisory lock's 64-bit key for a worker id."""
    return int.from_bytes(hashlib.blake2b(worker.encode(), digest_size=8).digest(), "big", signed=True)


def advisory_locks():
    return connection.vendor == "postgresql"


@worker_process_init.connect
@worker_init.connect
def _become_worker(**kwargs):
    """A Celery worker process (a prefork child, or the main process of a solo/threads pool).
    Its name and lock come with its first task (worker_id): a prefork parent, which runs no
    task, never opens a connection its children would inherit."""
    with _process_lock:
        _process.update(worker=True, pid=None, id="", lock=None)


def worker_id():
    """This worker process's id ("host:pid:random"), its lock held; "" outside a worker."""
    if not _process.get("worker"):
        return ""
    with _process_lock:
        if _process["pid"] != os.getpid():  # first call, or a child forked from a named parent
            _process.update(pid=os.getpid(), id=f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}",
                            lock=None)
        if advisory_locks() and (_process["lock"] is None or _process["lock"].closed):
            _process["lock"] = _hold_lock(_process["id"])
    return _process["id"]


def _hold_lock(worker):
    """A connection of this process's own, holding the worker's advisory lock until it ends."""
    params = connection.get_connection_params()
    holder = connection.get_new_connection(params)
    holder.autocommit = True
    holder.execute("SELECT pg_advisory_lock(%s)", [lock_key(worker)])
    log.info("worker %s holds its liveness lock", worker)
    return holder


def is_alive(worker):
    """Is the worker process named `worker` still running? Unknown (no advisory locks, no
    name) counts as alive: its records are then recovered by age."""
    if not worker or not advisory_locks():
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(worker)])
        (got_it,) = cursor.fetchone()
        if got_it:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key(worker)])
    return not got_it


def lease(worker, channel, ids):
    """Record that `worker` holds these records for a batch; None outside a worker."""
    if not worker:
        return None
    return DeliveryLease.objects.create(worker=worker, channel=channel, ids=list(ids))


def release(held):
    if held is not None:
        DeliveryLease.objects.filter(pk=held.pk).delete()


UNSENT_TTL = 24 * 3600


def _unsent_key(pk):
    return f"delivery:unsent:{pk}"


def mark_unsent(worker, ids):
    """These records, just claimed by `worker`, have not been requested yet (one cache call)."""
    if worker and ids:
        cache.set_many({_unsent_key(pk): worker for pk in ids}, timeout=UNSENT_TTL)


class MarkNotRemoved(Exception):
    """The cache could not be written: the request must not leave. (Not an OSError: the HTTP
    connection that calls requesting() (sms/wire.py) must not take it for a network error and
    retry.)"""


def requesting(pk):
    """Remove the record's mark: its request leaves now. Raises MarkNotRemoved if the cache
    cannot be written: sending anyway could let the recovery send it a second time."""
    try:
        cache.delete(_unsent_key(pk))
    except Exception as exc:
        raise MarkNotRemoved(f"{exc.__class__.__name__}: cache unreachable") from exc


def unsent_among(worker, ids):
    """The records of `ids` that `worker` claimed and never requested."""
    marks = cache.get_many([_unsent_key(pk) for pk in ids])
    return [pk for pk in ids if marks.get(_unsent_key(pk)) == worker]
