"""Delivering one notification, exactly once as far as we can know.

The sequence for one record:

1. Claim: UPDATE ... SET status='sending' WHERE id=... AND status='pending'. Only one
   task can win; a duplicate task, a redelivered message or a late retry finds nothing to
   claim and sends nothing.
2. Check it should still go out: the appointment has not started, still stands (or it is
   the cancellation message), was not changed since (a newer message replaces this one),
   and the recipient still consents on this channel. Otherwise: cancelled.
3. Render (a rendering error: failed, nothing reached the provider) and hand it over.
4. Record the provider's answer: sent (with its message id and SMS segment count), failed
   (permanent error, with the provider's code), or back to pending for a retry (transient).

A crash between the provider's answer and step 4 leaves the record in 'sending'. We do
NOT send it again: this pipeline is **at-most-once** for that window. Why: we cannot know
whether the provider accepted the message, and a duplicate cannot be taken back (a citizen
told twice, or told a stale time), while a message in doubt can be found and settled:
- the provider's own status report settles it: every SMS carries a status-callback URL
  naming the record (?n=<id>), and emails carry the record id as ESP metadata, so a
  callback for a message that did go out moves the record to sent/delivered by itself;
- `recovery.recover_stalled()` (a periodic task) marks records still 'sending' after
  STALLED_AFTER as 'uncertain' (« à vérifier »), shown to agents in the admin, who can
  resend (a sender that was only slow still records its answer over 'uncertain'). Records
  still 'pending' after STALLED_AFTER (their task was lost: broker down at
  commit time, a purge) are simply enqueued again: nothing was sent for them, and claiming
  makes a double enqueue harmless.
"""

import logging

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from appointments.models import (
    AppointmentStatus,
    Channel,
    ConsentSource,
    Motif,
    Organisation,
    Place,
)

from . import limits
from .content import render_email, render_sms, sms_sender
from .mail import classify
from .models import Event, Notification, Status, StatusEvent
from .sms import SmsError, SmsMessage
from .sms.router import SmsRouter
from .suppression import is_suppressed, suppress

log = logging.getLogger(__name__)

# Twilio 21610: "Attempt to send to unsubscribed recipient" (the number opted out with Twilio).
PROVIDER_OPT_OUT_CODES = {"21610"}


class NotClaimed(Exception):
    pass


def claim(notification_id, now):
    return Notification.objects.filter(pk=notification_id, status=Status.PENDING).update(
        status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now,
    ) == 1


def load(notification_id, lookups=None):
    """The record with what rendering needs. A batch passes `lookups`, a dict shared by its
    messages, so that motifs, organisations and places (a handful of rows) are read once per
    batch rather than joined into every query."""
    if lookups is None:
        return Notification.objects.select_related(
            "appointment__motif__service", "appointment__organisation", "appointment__place__organisation",
            "contact", "recipient_agent__user",
        ).get(pk=notification_id)
    notification = Notification.objects.select_related("appointment", "contact", "recipient_agent__user").get(pk=notification_id)
    appointment = notification.appointment

    def cached(model, pk, queryset):
        key = (model, pk)
        if key not in lookups:
            lookups[key] = queryset.get(pk=pk)
        return lookups[key]

    appointment.motif = cached("motif", appointment.motif_id, Motif.objects.select_related("service"))
    appointment.organisation = cached("organisation", appointment.organisation_id, Organisation.objects.all())
    if appointment.place_id:
        appointment.place = cached("place", appointment.place_id, Place.objects.select_related("organisation"))
    return notification


def why_not_send(notification, now):
    """The reason this notification must no longer go out, or None."""
    appointment = notification.appointment
    if appointment.starts_at <= now:
        return "Le rendez-vous a déjà commencé."
    if notification.event != Event.CANCELLATION and appointment.status != AppointmentStatus.CONFIRMED:
        return "Le rendez-vous n'est plus confirmé."
    if notification.sequence != appointment.sequence and notification.event != Event.CANCELLATION:
        return "Le rendez-vous a été modifié depuis : un message plus récent remplace celui-ci."
    contact = notification.contact
    if contact is not None:
        allowed = contact.can_receive_sms() if notification.channel == Channel.SMS else contact.can_receive_email()
        if not allowed:
            return "Consentement retiré (ou coordonnées supprimées)."
    elif not notification.recipient_agent.user.is_active:
        return "Compte agent désactivé."
    # Also for a number typed into a contact after it opted out elsewhere.
    if is_suppressed(notification.channel, notification.to):
        return "Numéro ou adresse sur la liste d'opposition."
    return None


# Where a claimed record can be when its sender records the outcome: still 'sending', or
# flagged 'uncertain' by recover_stalled() meanwhile (the sender now knows better).
CLAIMED = (Status.SENDING, Status.UNCERTAIN)


def finish(notification_id, status, *, only_from=CLAIMED, raw_event="", provider_code="", **fields):
    """Move the record to `status` if it is still in one of `only_from`; log the event."""
    now = timezone.now()
    with transaction.atomic():  # one commit for the record and its log
        moved = Notification.objects.filter(pk=notification_id, status__in=only_from).update(
            status=status, updated_at=now, **fields
        )
        StatusEvent.objects.create(notification_id=notification_id, status=status, raw_event=raw_event,
                                   provider_code=provider_code, received_at=now)
    return moved


class Senders:
    """The provider clients a task uses. A batch task shares them across its messages: one
    HTTP session per SMS provider, one SMTP (or ESP) connection, instead of one per message."""

    def __init__(self, share_lookups=False):
        self._sms = None
        self._email = None
        self.lookups = {} if share_lookups else None

    def sms(self):
        if self._sms is None:
            self._sms = SmsRouter()
        return self._sms

    def email(self):
        if self._email is None:
            self._email = get_connection()
            self._email.open()
        return self._email

    def email_failed(self):
        """After an error the connection may be half-broken: the next message opens anew."""
        self.close()

    def close(self):
        if self._email is not None:
            try:
                self._email.close()
            except Exception:  # closing a broken connection: nothing left to do
                pass
            self._email = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def prepare(notification):
    """The rendered message: (SmsMessage, segments) or an EmailMultiAlternatives."""
    appointment = notification.appointment
    if notification.channel == Channel.SMS:
        text, segments = render_sms(notification, appointment)
        # The status callback is the provider's to give (SmsRouter.send, once it chose one).
        return SmsMessage(to=notification.to, body=text, reference=str(notification.pk),
                          sender=sms_sender(appointment.organisation.brand)), segments
    return render_email(notification, appointment), None


def hand_over(notification, message, segments, senders):
    """Give the message to the provider; returns (provider, message_id, segments, subject,
    body) or raises SmsError (transient or permanent)."""
    if notification.channel == Channel.SMS:
        provider, result = senders.sms().send(message, organisation=notification.appointment.organisation)
        return provider, result.message_id, segments, "", message.body
    try:
        senders.email().send_messages([message])
    except Exception as exc:
        senders.email_failed()
        error = classify(exc)
        if error is None:
            raise
        raise error from exc
    status = getattr(message, "anymail_status", None)
    message_id = (status and status.message_id) or message.extra_headers.get("Message-ID", "")
    return email_provider(), str(message_id), None, message.subject, message.body


def email_provider():
    """"mailgun", "smtp", "locmem", "outbox": a short name for EMAIL_BACKEND."""
    module, _, cls = settings.EMAIL_BACKEND.rpartition(".")
    return module.rsplit(".", 1)[-1] if cls == "EmailBackend" else cls.removesuffix("EmailBackend").lower() or cls


def deliver(notification_id, *, last_try=False, senders=None):
    """Claim, check, send and record one notification. Returns what happened, as a word
    for the task's log; raises TransientSmsError when a retry should follow."""
    if senders is None:
        with Senders() as own:
            return deliver(notification_id, last_try=last_try, senders=own)
    now = timezone.now()
    if not claim(notification_id, now):
        log.info("notification %s: not claimable (already handled or in progress)", notification_id)
        return "skipped"
    notification = load(notification_id, senders.lookups)
    reason = why_not_send(notification, now)
    if reason:
        finish(notification_id, Status.CANCELLED, error_message=reason, raw_event="cancelled")
        log.info("notification %s: cancelled (%s)", notification_id, reason)
        return "cancelled"
    # Counted once per record (a retry after a transient error was counted by its first try).
    if notification.contact_id and notification.attempts <= 1 and not limits.recipient_allows(notification.channel, notification.to):
        finish(notification_id, Status.LIMITED, error_code=limits.RECIPIENT_CODE, error_message=str(limits.RECIPIENT_REASON),
               raw_event="limited")
        log.warning("notification %s: not sent, its recipient reached the daily %s limit", notification_id, notification.channel)
        return "limited"
    try:
        message, segments = prepare(notification)
    except Exception as exc:
        # Nothing reached the provider: a plain failure, for an agent to see (a template or
        # data problem that a retry would only repeat).
        finish(notification_id, Status.FAILED, error_code="render", error_message=f"{exc.__class__.__name__}: {exc}"[:1000],
               raw_event="render_error")
        log.exception("notification %s: could not be rendered", notification_id)
        raise
    try:
        provider, message_id, segments, subject, body = hand_over(notification, message, segments, senders)
    except SmsError as error:
        if error.transient and not last_try:
            # Release the claim: the retry (or the recovery sweep) claims it again.
            finish(notification_id, Status.PENDING, error_code=error.code[:32], error_message=str(error)[:1000],
                   raw_event="transient_error", provider_code=error.code[:32])
            log.warning("notification %s: transient error %s from %s, will retry", notification_id, error.code,
                        error.provider or "?")
            raise
        finish(notification_id, Status.FAILED, error_code=error.code[:32], error_message=str(error)[:1000],
               raw_event="gave_up" if error.transient else "permanent_error", provider_code=error.code[:32],
               **({"provider": error.provider[:32]} if error.provider else {}))
        if notification.channel == Channel.SMS and error.code in PROVIDER_OPT_OUT_CODES:
            # Twilio refuses because this number opted out with them (a STOP we may never
            # have seen): the number stops for us too, whichever contact holds it.
            suppress(Channel.SMS, notification.to, source=ConsentSource.PROVIDER_OPT_OUT)
        log.warning("notification %s: failed (%s)", notification_id, error.code)
        return "failed"
    sent = dict(provider=provider, provider_message_id=message_id, segments=segments, subject=subject[:255],
                body=body, sent_at=timezone.now(), error_code="", error_message="")
    if not finish(notification_id, Status.SENT, raw_event="accepted", **sent):
        # The provider's status report (or the recovery sweep) got there first: keep its
        # status, record the rest.
        Notification.objects.filter(pk=notification_id).update(updated_at=timezone.now(), **sent)
    log.info("notification %s: sent via %s", notification_id, provider)
    return "sent"
