"""Celery tasks: thin wrappers around delivery.py (one record), batches.py (many) and the
periodic jobs. Tasks are dispatched by name (dispatch.py).

Reliability settings on every send task: acks_late + reject_on_worker_lost (a worker that dies
mid-task gets the message redelivered, and the claim makes the redelivery a no-op if the first
run got as far as claiming); the records of a dead worker are settled by recovery.py at once.
A single-message task retries transient errors with exponential back-off and jitter; a batch
puts its records to retry into one later batch.

A notification that fails for good is recorded first, then its task raises NotificationFailed,
so that Celery, Flower and its metrics count it as FAILURE (a batch: once, after all its records
are recorded, naming how many failed).
"""

import logging

from celery import shared_task
from django.conf import settings

from . import liveness
from .batches import Batch, retry_countdown
from .delivery import deliver
from .errors import NotificationFailed, TransientDeliveryError
from .models import Status
from .recovery import recover_stalled
from .reminders import sweep_due_reminders

log = logging.getLogger(__name__)

SEND_OPTIONS = dict(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientDeliveryError,),
    retry_backoff=settings.NOTIFICATIONS_RETRY_BACKOFF,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=settings.NOTIFICATIONS_MAX_RETRIES,
    ignore_result=True,
)


def _report_failure(task, message):
    """FAILURE for Celery, Flower and its metrics. Not for a task run in-process (eager: tests,
    a shell), where nobody watches task states and the caller only wants the record written."""
    if not task.request.is_eager:
        raise NotificationFailed(message)


def _deliver(task, notification_id):
    outcome = deliver(notification_id, last_try=task.request.retries >= task.max_retries, worker=liveness.worker_id())
    if outcome is None:
        return "skipped"
    if outcome.status == Status.FAILED:
        _report_failure(task, f"notification {notification_id}: {outcome.raw_event} ({outcome.fields.get('error_code', '')})")
    return outcome.word


@shared_task(name="notifications.send_sms", **SEND_OPTIONS)
def send_sms(self, notification_id):
    return _deliver(self, notification_id)


@shared_task(name="notifications.send_email", **SEND_OPTIONS)
def send_email(self, notification_id):
    return _deliver(self, notification_id)


def _deliver_batch(task, channel, notification_ids, attempt):
    batch = Batch(channel, notification_ids, attempt)
    counts = batch.run()
    if batch.retry:
        task.apply_async((batch.retry,), {"attempt": attempt + 1}, countdown=retry_countdown(attempt))
    if counts.get("failed"):
        _report_failure(task, f"{channel} batch: {counts['failed']} of {len(notification_ids)} failed ({counts})")
    return counts


@shared_task(name="notifications.send_sms_batch", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_sms_batch(self, notification_ids, attempt=0):
    return _deliver_batch(self, "sms", notification_ids, attempt)


@shared_task(name="notifications.send_email_batch", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_email_batch(self, notification_ids, attempt=0):
    return _deliver_batch(self, "email", notification_ids, attempt)


@shared_task(name="notifications.send_due_reminders", acks_late=True, ignore_result=True)
def send_due_reminders():
    return sweep_due_reminders()


@shared_task(name="notifications.recover_stalled", acks_late=True, ignore_result=True)
def recover_stalled_notifications():
    return recover_stalled()
