"""Delivering notifications, exactly once as far as we can know.

The sequence for a record:

1. Claim: UPDATE ... SET status='sending' WHERE id ... AND status='pending'. Only one task can
   win; a duplicate task, a redelivered message or a late retry finds nothing to claim and sends
   nothing. A batch claims a few records in one statement (batches.py), just before it sends
   them; the claim names the worker process (`claimed_by`, see liveness.py).
2. Check it should still go out (`check`): the appointment has not started, still stands (or it
   is the cancellation message), was not changed since (a newer message replaces this one), the
   recipient still consents on this channel and is not on the suppression list, and is under
   the daily per-recipient cap. Otherwise: cancelled (or limited).
3. Render (a rendering error: failed, nothing reached the provider) and hand it over.
4. Record the provider's answer (`record`, in bulk for a batch): sent (with its message id and
   SMS segment count), failed (permanent error, with the provider's code), or back to pending
   for a retry (transient).

A crash between the hand-over and step 4 leaves the record in 'sending'. We do NOT send it
again: this pipeline is **at-most-once** for that window. Why: we cannot know whether the
provider accepted the message, and a duplicate cannot be taken back (a citizen told twice, or
told a stale time), while a message in doubt can be found and settled:
- the provider's own status report settles it: every SMS carries a status-callback URL naming
  the record (?n=<id>), and emails carry the record id as ESP metadata, so a callback for a
  message that did go out moves the record to sent/delivered by itself;
- recovery.py marks records still 'sending' whose worker died (at once) or that stalled
  (after STALLED_AFTER) as 'uncertain' (« à vérifier »), shown to agents in the admin, who can
  resend (a sender that was only slow still records its answer over 'uncertain').

How wide the window is: a single-message task holds one record in it. A batch claims records
only when a sending thread is free to take them at once, so its window holds at most
SEND_CONCURRENCY records in flight plus the answers not yet recorded (recorded every
batches.RECORD_EVERY answers): about 42 records per worker process with the defaults. Of those,
the ones whose "not yet requested" mark is still there never left and are sent again
(liveness.py); the others did reach the provider, but for at most one per process: the record
whose request an HTTP SMS connection was writing, the mark just removed (sms/wire.py holds a
lock of the process between the two).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from appointments.models import (
    AppointmentStatus,
    Channel,
    ConsentSource,
    Motif,
    Organisation,
    Place,
)

from . import limits, throttle, unreachable
from .content import render_email, render_sms, sms_sender
from .errors import DeliveryError
from .mail import classify
from .models import Event, Notification, Status, StatusEvent
from .senders import Senders
from .sms import SmsMessage
from .suppression import is_suppressed, suppress, suppressed_among

log = logging.getLogger(__name__)

# Twilio 21610: "Attempt to send to unsubscribed recipient" (the number opted out with Twilio).
PROVIDER_OPT_OUT_CODES = {"21610"}
# Where a claimed record can be when its sender records the outcome: still 'sending', or
# flagged 'uncertain' by the recovery meanwhile (the sender now knows better).
CLAIMED = (Status.SENDING, Status.UNCERTAIN)
# What a sent record keeps of its message, written even when a provider report came first.
SENT_FIELDS = ("provider", "provider_message_id", "segments", "subject", "body", "sent_at", "error_code",
               "error_message")


@dataclass
class Outcome:
    """What happened to one claimed record: the status it moves to, the fields it gets, the
    event logged; `word` names it in task results and logs."""

    pk: int
    status: str
    word: str
    raw_event: str
    provider_code: str = ""
    fields: dict = field(default_factory=dict)
    error: DeliveryError | None = None


# --- 1. Claim ------------------------------------------------------------------------------

def claim(notification_id, now, worker=""):
    return bool(claim_many([notification_id], now, worker))


def claim_many(ids, now, worker=""):
    """Claim the still-pending records among `ids` in one statement; returns their ids."""
    if not ids:
        return []
    table = connection.ops.quote_name(Notification._meta.db_table)
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, claimed_at = %s, claimed_by = %s, attempts = attempts + 1, "
            f"updated_at = %s WHERE id IN ({placeholders}) AND status = %s RETURNING id",
            [Status.SENDING, now, worker, now, *ids, Status.PENDING],
        )
        return [row[0] for row in cursor.fetchall()]


# --- 2. Check ------------------------------------------------------------------------------

def load(notification_id, lookups=None):
    return load_many([notification_id], lookups)[0]


def load_many(ids, lookups=None):
    """The records with what rendering needs, in one query. A batch passes `lookups`, a dict
    shared by its messages, so that motifs, organisations and places (a handful of rows) are
    read once per batch rather than joined into every row."""
    if lookups is None:
        return list(Notification.objects.select_related(
            "appointment__motif__service", "appointment__organisation", "appointment__place__organisation",
            "contact__organisation", "recipient_agent__user",
        ).filter(pk__in=ids).order_by("pk"))
    notifications = list(Notification.objects.select_related("appointment", "contact", "recipient_agent__user")
                         .filter(pk__in=ids).order_by("pk"))

    def cached(model, pk, queryset):
        key = (model, pk)
        if key not in lookups:
            lookups[key] = queryset.get(pk=pk)
        return lookups[key]

    for notification in notifications:
        appointment = notification.appointment
        appointment.motif = cached("motif", appointment.motif_id, Motif.objects.select_related("service"))
        appointment.organisation = cached("organisation", appointment.organisation_id, Organisation.objects.all())
        if appointment.place_id:
            appointment.place = cached("place", appointment.place_id, Place.objects.select_related("organisation"))
        if notification.contact is not None:  # can_receive_sms() reads it: a query per SMS otherwise
            notification.contact.organisation = cached("organisation", notification.contact.organisation_id,
                                                       Organisation.objects.all())
    return notifications


def why_not_send(notification, now, suppressed=None, marked=None):
    """The reason this notification must no longer go out, or None. `suppressed`: whether
    its address is on the suppression list, `marked`: the numbers marked unreachable, when the
    caller looked them up for many at once."""
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
    if suppressed is None:
        suppressed = is_suppressed(notification.channel, notification.to)
    if suppressed:
        return "Numéro ou adresse sur la liste d'opposition."
    return unreachable.refusal(notification, marked)  # an SMS to a number marked unreachable: its email instead


def check(notification, now, suppressed=None, marked=None):
    """The Outcome of a record that must not be sent (cancelled, limited), or None."""
    suppressed = None if suppressed is None else {notification.pk} if suppressed else set()
    return check_many([notification], now, suppressed, marked)[notification.pk]


def check_many(notifications, now, suppressed=None, marked=None):
    """{pk: the Outcome of a record that must not be sent, or None}. `suppressed`: the pks
    whose address is on the suppression list, when the caller looked them up (suppressed_in).
    The daily per-recipient counts of them all are taken at once (one Redis round trip)."""
    outcomes, counted = {}, []
    for notification in notifications:
        reason = why_not_send(notification, now, None if suppressed is None else notification.pk in suppressed, marked)
        outcomes[notification.pk] = None
        if reason:
            outcomes[notification.pk] = Outcome(notification.pk, Status.CANCELLED, "cancelled", "cancelled",
                                                fields={"error_message": reason})
        # Counted once per record (a retry after a transient error was counted by its first try).
        if not reason and notification.contact_id and notification.attempts <= 1:
            counted.append(notification)
    for notification, allowed in zip(counted, limits.recipients_allow([(n.channel, n.to) for n in counted]), strict=True):
        if not allowed:
            log.warning("notification %s: not sent, its recipient reached the daily %s limit", notification.pk,
                        notification.channel)
            outcomes[notification.pk] = Outcome(
                notification.pk, Status.LIMITED, "limited", "limited",
                fields={"error_code": limits.RECIPIENT_CODE, "error_message": str(limits.RECIPIENT_REASON)})
    return outcomes


def suppressed_in(notifications):
    """The records of `notifications` whose address is on the suppression list (one query)."""
    by_channel = defaultdict(list)
    for notification in notifications:
        by_channel[notification.channel].append(notification.to)
    listed = {(channel, address) for channel, addresses in by_channel.items()
              for address in suppressed_among(channel, addresses)}
    return {notification.pk for notification in notifications if (notification.channel, notification.to) in listed}


# --- 3. Render and hand over ---------------------------------------------------------------

def prepare(notification):
    """The rendered message: (SmsMessage, segments) or an EmailMultiAlternatives."""
    appointment = notification.appointment
    if notification.channel == Channel.SMS:
        text, segments = render_sms(notification, appointment)
        # The status callback is the provider's to give (SmsRouter.send, once it chose one).
        return SmsMessage(to=notification.to, body=text, reference=str(notification.pk),
                          sender=sms_sender(appointment.organisation.brand)), segments
    return render_email(notification, appointment), None


def render_failure(notification, exc):
    """Nothing reached the provider: a plain failure, for an agent to see (a template or data
    problem that a retry would only repeat)."""
    log.error("notification %s: could not be rendered (%s)", notification.pk, exc.__class__.__name__, exc_info=exc)
    return Outcome(notification.pk, Status.FAILED, "failed", "render_error",
                   fields={"error_code": "render", "error_message": f"{exc.__class__.__name__}: {exc}"[:1000]})


def hand_over(channel, message, segments, senders, organisation=None, before_request=None, route=None):
    """Give the message to the provider (of `organisation`'s SMS route); returns the sent
    record's fields or raises a DeliveryError (transient or permanent). Touches no database: it
    runs in a sending thread. `before_request()` is called just before the request leaves,
    after any wait for the provider's rate (liveness: the at-most-once window). `route`: the SMS
    route's provider classes, resolved by the caller's thread (it reads the database)."""
    if channel == Channel.SMS:
        provider, result = senders.sms().send(message, organisation=organisation, before_request=before_request,
                                              route=route)
        return dict(provider=provider, provider_message_id=result.message_id, segments=segments, subject="",
                    body=message.body)
    provider = email_provider()
    throttle.acquire(provider, settings.EMAIL_RATE_LIMIT)  # the provider's rate, shared by every worker
    if before_request is not None:
        before_request()
    try:
        senders.email().send_messages([message])
    except Exception as exc:
        senders.email_failed()
        error = classify(exc)
        if error is None:
            raise
        if error.throttled:
            throttle.pause(provider, error.retry_after)
        raise error from exc
    status = getattr(message, "anymail_status", None)
    message_id = (status and status.message_id) or message.extra_headers.get("Message-ID", "")
    return dict(provider=provider, provider_message_id=str(message_id), segments=None,
                subject=message.subject[:255], body=message.body)


def email_provider():
    """"mailgun", "smtp", "locmem", "outbox": a short name for EMAIL_BACKEND."""
    module, _, cls = settings.EMAIL_BACKEND.rpartition(".")
    return module.rsplit(".", 1)[-1] if cls == "EmailBackend" else cls.removesuffix("EmailBackend").lower() or cls


def sent(notification, fields):
    log.info("notification %s: sent via %s", notification.pk, fields["provider"])
    return Outcome(notification.pk, Status.SENT, "sent", "accepted",
                   fields={**fields, "sent_at": timezone.now(), "error_code": "", "error_message": ""})


def refused(notification, error, last_try):
    """The Outcome of a provider error: back to pending for a retry, or failed."""
    code = error.code[:32]
    if error.transient and not last_try:
        # Release the claim: the retry (or the recovery) claims it again.
        log.warning("notification %s: transient error %s from %s, will retry", notification.pk, error.code,
                    error.provider or "?")
        return Outcome(notification.pk, Status.PENDING, "retrying", "transient_error", code,
                       fields={"error_code": code, "error_message": str(error)[:1000]}, error=error)
    log.warning("notification %s: failed (%s)", notification.pk, error.code)
    fields = {"error_code": code, "error_message": str(error)[:1000]}
    if error.provider:
        fields["provider"] = error.provider[:32]
    return Outcome(notification.pk, Status.FAILED, "failed", "gave_up" if error.transient else "permanent_error", code,
                   fields=fields, error=error)


# --- 4. Record -----------------------------------------------------------------------------

def record(outcomes, notifications=None):
    """Write the outcomes: a few statements however many records. A status moves only if the
    record is still claimed (a provider report may have come first: it knows better); a sent
    record's message fields are written in any case. Then what a failure implies for the
    number (after_failure)."""
    if not outcomes:
        return
    now = timezone.now()
    with transaction.atomic():
        sent_ones = [o for o in outcomes if o.status == Status.SENT]
        if sent_ones:
            update_each(sent_ones, SENT_FIELDS, now, status_only_if_claimed=True)
        groups = defaultdict(list)
        for outcome in outcomes:
            if outcome.status != Status.SENT:
                groups[tuple(sorted(outcome.fields))].append(outcome)
        for names, group in groups.items():
            update_each(group, names, now, status_only_if_claimed=False)
        StatusEvent.objects.bulk_create([
            StatusEvent(notification_id=o.pk, status=o.status, raw_event=o.raw_event, provider_code=o.provider_code,
                        received_at=now)
            for o in outcomes
        ])
    by_pk = {n.pk: n for n in notifications or ()}
    for outcome in outcomes:
        if outcome.status == Status.FAILED and outcome.error is not None and outcome.pk in by_pk:
            after_failure(by_pk[outcome.pk], outcome.error)


def update_each(outcomes, names, now, *, status_only_if_claimed):
    """One UPDATE ... FROM (VALUES ...) giving each record its outcome's status and fields
    `names`. Django's bulk_update writes a CASE per field and record, whose building cost the
    worker more CPU than anything else it did for a message (1.6 ms a message, profiled:
    README "Benchmarks"); this is a plain statement.

    status_only_if_claimed=False: nothing changes on a record no longer claimed (CLAIMED).
    True (a sent record): its fields are written in any case, its status only if claimed."""
    table = connection.ops.quote_name(Notification._meta.db_table)
    fields = [Notification._meta.get_field(name) for name in names]
    postgresql = connection.vendor == "postgresql"

    def column(i, field):  # VALUES columns are column1, column2...: PostgreSQL and SQLite alike
        value = f"v.column{i}"
        # PostgreSQL types a VALUES column from its values (a column of NULLs is text): cast it.
        return f"CAST({value} AS {field.db_type(connection)})" if postgresql else value

    claimed = ", ".join(["%s"] * len(CLAIMED))
    assignments = [f"{connection.ops.quote_name(f.column)} = {column(i, f)}" for i, f in enumerate(fields, start=3)]
    if status_only_if_claimed:
        assignments.append(f"status = CASE WHEN {table}.status IN ({claimed}) THEN v.column2 ELSE {table}.status END")
        condition = ""
    else:
        assignments.append("status = v.column2")
        condition = f" AND {table}.status IN ({claimed})"
    row = "(" + ", ".join(["%s"] * (len(fields) + 2)) + ")"
    params = [now, *(CLAIMED if status_only_if_claimed else ())]
    for outcome in outcomes:
        params += [outcome.pk, outcome.status,
                   *(f.get_db_prep_save(outcome.fields[f.name], connection) for f in fields)]
    params += CLAIMED if not status_only_if_claimed else ()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET updated_at = %s, {', '.join(assignments)} "
            f"FROM (VALUES {', '.join([row] * len(outcomes))}) AS v WHERE {table}.id = v.column1{condition}",
            params)


def after_failure(notification, error):
    """What a permanent refusal says about the number, beyond this message."""
    if notification.channel == Channel.SMS and error.code in PROVIDER_OPT_OUT_CODES:
        # Twilio refuses because this number opted out with them (a STOP we may never have
        # seen): the number stops for us too, whichever contact holds it.
        suppress(Channel.SMS, notification.to, source=ConsentSource.PROVIDER_OPT_OUT)
    if notification.channel == Channel.SMS:
        # A number the carrier cannot reach (21211, 21614...): marked, its email goes instead.
        unreachable.sms_failed(notification, error.code, error.provider)


def finish(notification_id, status, *, only_from=CLAIMED, raw_event="", provider_code="", **fields):
    """Move one record to `status` if it is still in one of `only_from`; log the event."""
    now = timezone.now()
    with transaction.atomic():  # one commit for the record and its log
        moved = Notification.objects.filter(pk=notification_id, status__in=only_from).update(
            status=status, updated_at=now, **fields
        )
        StatusEvent.objects.create(notification_id=notification_id, status=status, raw_event=raw_event,
                                   provider_code=provider_code, received_at=now)
    return moved


# --- One record: what a single-message task does ----------------------------------------------

def deliver(notification_id, *, last_try=False, senders=None, worker=""):
    """Claim, check, send and record one notification. Returns its Outcome (None when it
    was not claimable); raises the DeliveryError when a retry should follow, the rendering
    error when it could not be rendered."""
    if senders is None:
        with Senders() as own:
            return deliver(notification_id, last_try=last_try, senders=own, worker=worker)
    now = timezone.now()
    if not claim(notification_id, now, worker):
        log.info("notification %s: not claimable (already handled or in progress)", notification_id)
        return None
    notification = load(notification_id)
    outcome = check(notification, now)
    if outcome is None:
        try:
            message, segments = prepare(notification)
        except Exception as exc:
            record([render_failure(notification, exc)])
            raise
        try:
            outcome = sent(notification, hand_over(notification.channel, message, segments, senders,
                                                   organisation=notification.appointment.organisation))
        except DeliveryError as error:
            outcome = refused(notification, error, last_try)
    record([outcome], [notification])
    if outcome.status == Status.PENDING:
        raise outcome.error
    return outcome
