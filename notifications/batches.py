"""Delivering a batch: the records of one channel that a reminder sweep enqueues together.

A real provider answers in 100-300 ms, so what limits a batch is how many messages are in
flight, not the CPU: the task's thread claims, loads, checks and renders a few records at a time
and hands them to the sending threads (senders.py), keeping up to SEND_CONCURRENCY in flight;
answers are recorded a few at a time too. The database sees a handful of statements per
CLAIM_CHUNK records instead of three transactions per record:

- claim: one UPDATE ... RETURNING for up to CLAIM_CHUNK records, made only when that many
  sending threads are free, so a claimed record is in flight within the instant (this bounds
  the at-most-once window, see delivery.py);
- load: one query (motifs, organisations and places read once per batch), the suppression list
  one query;
- record: a few bulk UPDATEs and one bulk INSERT of status events per RECORD_EVERY answers.

A provider's "too many requests" (HTTP 429) pauses its rate for every worker (throttle.py) and the
message goes again in the same batch. A record that meets another transient error is released (pending) and retried with the rest of the
batch's unsent records in ONE later batch task, after a back-off. When the provider looks down
(GIVE_UP_AFTER transient errors in a row, or every SMS provider's breaker open) the batch stops
claiming at once, so it never holds records for longer than one provider timeout.
"""

import functools
import logging
import random
from concurrent.futures import FIRST_COMPLETED, wait

from django.conf import settings
from django.utils import timezone

from appointments.models import Channel

from . import delivery, liveness, unreachable
from .errors import TransientDeliveryError
from .senders import SendingThreads, thread_router

log = logging.getLogger(__name__)

CLAIM_CHUNK = 10
RECORD_EVERY = 10
GIVE_UP_AFTER = 3
# The longest wait before a batch that met a failing provider tries again: a provider back
# after an outage is used again within this (plus the time to reach the batch in the queue).
RETRY_BACKOFF_MAX = 60


def retry_countdown(attempt):
    """Seconds before the next try of a deferred batch: exponential, capped, with jitter
    (half to all of it) so that deferred batches do not come back all at once."""
    ceiling = min(RETRY_BACKOFF_MAX, settings.NOTIFICATIONS_RETRY_BACKOFF * 2 ** attempt)
    return ceiling * random.uniform(0.5, 1.0)


def provider_usable(channel):
    """Is there a provider to send to right now? (Email has no breaker: always.)"""
    return channel != Channel.SMS or thread_router().usable()


def send(pk, channel, message, segments, organisation, route, senders):
    """In a sending thread: the hand-over, which says the record's request leaves (liveness)
    at the last moment: as an HTTP provider's connection writes it (sms/wire.py), otherwise
    after the breakers' reads and any wait for the provider's rate. A worker killed before
    leaves the record to be sent again, not in doubt."""
    try:
        return delivery.hand_over(channel, message, segments, senders, organisation=organisation,
                                  before_request=functools.partial(liveness.requesting, pk), route=route)
    except liveness.MarkNotRemoved as exc:
        raise TransientDeliveryError(str(exc), code="cache") from exc


class Batch:
    """One run of a batch task: deliver `ids` (one channel), return counts per outcome word
    and the ids to try again later."""

    def __init__(self, channel, ids, attempt=0):
        self.channel = channel
        self.ids = list(ids)
        self.attempt = attempt
        self.counts = {}
        self.retry = []  # released after a transient error, or never claimed: for a later batch
        self.unrecorded = []
        self.loaded = {}
        self.in_flight = {}  # future -> notification
        self.failures_in_a_row = 0
        self.failing_provider = None
        self.failing_organisation = None  # whose SMS route failed (SmsRouter.send says)
        self.lookups = {}
        self.worker = liveness.worker_id()

    def run(self):
        threads = SendingThreads(self.channel)
        lease = liveness.lease(self.worker, self.channel, self.ids)
        try:
            self._deliver(threads)
        finally:
            # An error that ends the batch early (the database or the cache lost mid-batch) may
            # leave sends in flight: their threads still use these connections, and closing
            # them now would break those requests (or let a thread open a connection nobody
            # closes). Their answers go unrecorded: the records stay 'sending', for recovery.py.
            wait(list(self.in_flight))
            threads.close()
            liveness.release(lease)
        return self.counts

    # -- the loop

    def _deliver(self, threads):
        rest = list(self.ids)
        while rest or self.in_flight:
            if rest and self._provider_failing():
                self._defer(rest)
                rest = []
            free = threads.limit - len(self.in_flight)
            if rest and free > 0:
                chunk, rest = rest[:min(CLAIM_CHUNK, free)], rest[min(CLAIM_CHUNK, free):]
                self._start(chunk, threads)
            elif self.in_flight:
                done, _ = wait(list(self.in_flight), return_when=FIRST_COMPLETED)
                for future in done:
                    self._answered(future, threads)
            if len(self.unrecorded) >= RECORD_EVERY or not (rest or self.in_flight):
                self._record()
        self._record()

    def _provider_failing(self):
        if self.failures_in_a_row >= GIVE_UP_AFTER:
            if self.channel == Channel.SMS and (
                    thread_router().current(organisation=self.failing_organisation) not in (None, self.failing_provider)):
                self.failures_in_a_row = 0  # failed over: the next provider takes the rest
                return False
            return True
        return not provider_usable(self.channel)

    def _defer(self, rest):
        self.retry.extend(rest)
        self._count("deferred", len(rest))
        log.warning("%s batch: provider failing, %d records deferred", self.channel, len(rest))

    def _start(self, chunk, threads):
        now = timezone.now()
        # Marked before they are claimed: a worker killed between its claim and its marks
        # would leave the whole chunk in doubt, never requested. (A mark on a record another
        # worker claims instead names us, not it: that record could only end in doubt rather
        # than be sent again, never the reverse.)
        liveness.mark_unsent(self.worker, chunk)
        claimed = delivery.claim_many(chunk, now, self.worker)
        self._count("skipped", len(chunk) - len(claimed))
        notifications = delivery.load_many(claimed, self.lookups)
        suppressed = delivery.suppressed_in(notifications)
        marked = unreachable.marked_among([n.to for n in notifications]) if self.channel == Channel.SMS else None
        outcomes = delivery.check_many(notifications, now, suppressed=suppressed, marked=marked)
        for notification in notifications:
            self.loaded[notification.pk] = notification
            outcome = outcomes[notification.pk]
            if outcome is None:
                try:
                    message, segments = delivery.prepare(notification)
                except Exception as exc:
                    # One bad record must not stall the rest of its batch.
                    outcome = delivery.render_failure(notification, exc)
            if outcome is not None:
                self._done(outcome)
                continue
            self._submit(threads, notification, message, segments)

    def _submit(self, threads, notification, message, segments):
        organisation = notification.appointment.organisation
        # Resolved here: the route may be read from the database, which only this thread uses.
        route = thread_router().route(organisation) if self.channel == Channel.SMS else None
        future = threads.submit(send, notification.pk, self.channel, message, segments, organisation, route)
        self.in_flight[future] = (notification, message, segments)

    def _answered(self, future, threads):
        notification, message, segments = self.in_flight.pop(future)
        try:
            outcome = delivery.sent(notification, future.result())
            self.failures_in_a_row = 0
        except delivery.DeliveryError as error:
            if error.throttled:
                # Back-pressure, not failure: the provider's shared rate is paused (throttle.py);
                # the same message goes again once it lets us, still claimed by this batch.
                self._submit(threads, notification, message, segments)
                self._count("throttled")
                return
            last_try = notification.attempts > settings.NOTIFICATIONS_MAX_RETRIES
            outcome = delivery.refused(notification, error, last_try)
            if outcome.status == delivery.Status.PENDING:
                self.failures_in_a_row += 1
                self.failing_provider = error.provider or None
                self.failing_organisation = getattr(error, "organisation", None)
                self.retry.append(notification.pk)
        except Exception as exc:
            # A bug or an unreadable answer: the record stays 'sending' (at-most-once: it may
            # have gone), for the recovery to flag; the others go on.
            log.error("notification %s: unexpected error in a %s batch (%s)", notification.pk, self.channel,
                      exc.__class__.__name__, exc_info=exc)
            self._count("error")
            return
        self._done(outcome)

    def _done(self, outcome):
        self.unrecorded.append(outcome)
        self._count(outcome.word)

    def _record(self):
        outcomes, self.unrecorded = self.unrecorded, []
        delivery.record(outcomes, [self.loaded.pop(o.pk) for o in outcomes if o.pk in self.loaded])

    def _count(self, word, n=1):
        if n:
            self.counts[word] = self.counts.get(word, 0) + n
