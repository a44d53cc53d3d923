"""Celery tasks. Each send task delivers one Notification record (see delivery.py for
the claim that makes duplicates harmless and for the at-most-once window).

Reliability settings on every send task: acks_late + reject_on_worker_lost (a worker that
dies mid-task gets the message redelivered, and the claim makes the redelivery a no-op if
the first run got as far as claiming), automatic retries with exponential back-off and
jitter on transient errors only, and a rate limit per provider (per worker process).
"""

from celery import shared_task
from django.conf import settings

from .delivery import deliver, recover_stalled
from .reminders import sweep_due_reminders
from .sms import TransientSmsError

SEND_OPTIONS = dict(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientSmsError,),
    retry_backoff=settings.NOTIFICATIONS_RETRY_BACKOFF,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=settings.NOTIFICATIONS_MAX_RETRIES,
    ignore_result=True,
)


def _deliver(task, notification_id):
    return deliver(notification_id, last_try=task.request.retries >= task.max_retries)


@shared_task(name="notifications.send_sms", rate_limit=settings.SMS_RATE_LIMIT, **SEND_OPTIONS)
def send_sms(self, notification_id):
    return _deliver(self, notification_id)


@shared_task(name="notifications.send_email", rate_limit=settings.EMAIL_RATE_LIMIT, **SEND_OPTIONS)
def send_email(self, notification_id):
    return _deliver(self, notification_id)


@shared_task(name="notifications.send_due_reminders", acks_late=True, ignore_result=True)
def send_due_reminders():
    return sweep_due_reminders()


@shared_task(name="notifications.recover_stalled", acks_late=True, ignore_result=True)
def recover_stalled_notifications():
    requeued, flagged = recover_stalled()
    return {"requeued": requeued, "flagged": flagged}
