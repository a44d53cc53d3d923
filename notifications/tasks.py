"""Celery tasks. Each send task delivers one Notification record (see delivery.py for
the claim that makes duplicates harmless and for the at-most-once window).

Reliability settings on every send task: acks_late + reject_on_worker_lost (a worker that
dies mid-task gets the message redelivered, and the claim makes the redelivery a no-op if
the first run got as far as claiming), automatic retries with exponential back-off and
jitter on transient errors only, and a rate limit per provider (per worker process).
"""

import logging
import random
import time

from celery import shared_task
from django.conf import settings
from kombu.utils.limits import TokenBucket

from .delivery import Senders, deliver
from .recovery import recover_stalled
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


# --- Batches: what the reminder sweep enqueues -------------------------------------------------
#
# A sweep of 100,000 reminders would otherwise publish 200,000 broker messages, one by one;
# a batch task carries up to dispatch.BATCH_SIZE record ids of one channel and delivers them one after
# the other, each with its own claim (so a redelivered batch re-sends nothing already
# claimed), sharing one provider connection. A message that meets a transient error is handed
# to the single-message task above, whose retries take over.

log = logging.getLogger(__name__)



def _rate(limit):
    """Celery's "100/s", "20/m", "1000/h" as a rate per second, None for no limit."""
    if not limit:
        return None
    count, _, unit = str(limit).partition("/")
    return float(count) / {"s": 1, "m": 60, "h": 3600}[unit or "s"]


_buckets = {}


def _throttle(channel):
    """The per-provider rate limit inside a batch (per worker process, like Celery's)."""
    rate = _rate(settings.SMS_RATE_LIMIT if channel == "sms" else settings.EMAIL_RATE_LIMIT)
    if rate is None:
        return
    bucket = _buckets.get(channel)
    if bucket is None or bucket.fill_rate != rate:
        bucket = _buckets[channel] = TokenBucket(rate, capacity=max(1, int(rate)))
    while not bucket.can_consume(1):
        time.sleep(bucket.expected_time(1))


# After this many transient errors in a row the provider is taken as down: the rest of the
# batch is handed to single-message tasks at once instead of each waiting for its timeout —
# unless the SMS router has meanwhile turned to another provider (its breaker opened), which
# then takes the rest of the batch.
GIVE_UP_BATCH_AFTER = 3


def _deliver_batch(channel, single_task, notification_ids):
    done = {}
    failures_in_a_row = 0
    failing_provider = None
    failing_organisation = None

    def later(pk):
        countdown = settings.NOTIFICATIONS_RETRY_BACKOFF * (1 + random.random())
        single_task.apply_async((pk,), countdown=countdown)

    with Senders(share_lookups=True) as senders:
        for index, pk in enumerate(notification_ids):
            if failures_in_a_row >= GIVE_UP_BATCH_AFTER and channel == "sms" and senders.sms().current(organisation=failing_organisation) != failing_provider:
                failures_in_a_row = 0  # failed over: the next provider takes the rest
            if failures_in_a_row >= GIVE_UP_BATCH_AFTER:
                # Still pending (never claimed): their own tasks will claim them.
                for rest in notification_ids[index:]:
                    later(rest)
                done["deferred"] = len(notification_ids) - index
                log.warning("%s batch: provider failing, %d records deferred", channel, done["deferred"])
                break
            _throttle(channel)
            try:
                outcome = deliver(pk, senders=senders)
                failures_in_a_row = 0
            except TransientSmsError as error:
                # Released to pending by deliver(): its own task retries it after a back-off.
                later(pk)
                outcome = "retrying"
                failures_in_a_row += 1
                failing_provider = error.provider or None
                failing_organisation = getattr(error, "organisation", None)  # whose route failed (SmsRouter.send)
            except Exception:
                # One bad record (a rendering error, a bug) must not stall the rest of its
                # batch: deliver() recorded what it could (failed, or left in doubt for
                # recover_stalled), the others go on.
                log.exception("notification %s: unexpected error in a %s batch", pk, channel)
                outcome = "error"
            done[outcome] = done.get(outcome, 0) + 1
    return done


@shared_task(name="notifications.send_sms_batch", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_sms_batch(notification_ids):
    return _deliver_batch("sms", send_sms, notification_ids)


@shared_task(name="notifications.send_email_batch", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_email_batch(notification_ids):
    return _deliver_batch("email", send_email, notification_ids)


@shared_task(name="notifications.send_due_reminders", acks_late=True, ignore_result=True)
def send_due_reminders():
    return sweep_due_reminders()


@shared_task(name="notifications.recover_stalled", acks_late=True, ignore_result=True)
def recover_stalled_notifications():
    requeued, flagged = recover_stalled()
    return {"requeued": requeued, "flagged": flagged}
