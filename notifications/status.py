"""Delivery statuses coming back from providers, applied to Notification records.

The state machine of a provider's reports, stated once here (`STAGE`, `report_moves`):

    pending/sending/uncertain → sent → soft_bounced → delivered → undelivered | bounced | failed
                                                                            cancelled (never moved)

A report moves a record only to a *later* stage. So:
- out-of-order or replayed reports never downgrade ("sent" after "delivered" is ignored);
- a terminal failure wins over "delivered" (a hard bounce often arrives after the receiving
  server first said yes), and nothing comes back from it;
- a soft bounce is not an end: the provider keeps trying, and a later "delivered" ends
  delivered;
- a cancelled record was never handed to a provider: no report can revive it.
Failures among themselves keep the first one (same stage): its code is the one to read.

Reports arrive as normalised events, from anymail's `tracking` signal (emails) and from our own
`sms_status` / `sms_inbound` signals (notifications/sms/signals.py, sent by each SMS provider's
webhook views once they verified the request): the receivers at the end of this module apply
them, whichever provider they came from. An SMS failure whose code says the number itself is at
fault goes on to notifications/unreachable.py (the number is marked, the email goes instead).

Every report is logged (StatusEvent) whether or not it moved the record, so the whole story
stays readable. A report carries a key (the provider's event id, or a digest of the report): an
exact replay finds its key already in the status log and changes nothing at all, not even the log.
"""

import hashlib
import logging
import re
import unicodedata

from anymail.signals import tracking
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from appointments.models import Channel, ConsentSource

from .models import Notification, Status, StatusEvent, Suppression
from .sms.signals import sms_inbound, sms_status
from .suppression import normalise, suppress
from .unreachable import sms_failed

log = logging.getLogger(__name__)

STAGE = {
    Status.PENDING: 0,
    Status.SENDING: 1,
    Status.UNCERTAIN: 1,
    Status.SENT: 2,
    Status.SOFT_BOUNCED: 3,
    Status.DELIVERED: 4,
    Status.UNDELIVERED: 5,
    Status.BOUNCED: 5,
    Status.FAILED: 5,
    Status.CANCELLED: 6,
    Status.LIMITED: 6,  # like cancelled: never handed to a provider, no report can revive it
}
FAILURES = (Status.UNDELIVERED, Status.BOUNCED, Status.FAILED)
# What providers report; "sending", "pending", "uncertain", "cancelled" and "limited" are ours alone.
REPORTABLE = (Status.SENT, Status.SOFT_BOUNCED, Status.DELIVERED, *FAILURES)

assert set(STAGE) == set(Status), "every status needs its stage in the delivery state machine"


def report_moves(current, reported):
    """Does a provider's report of `reported` move a record that is `current`?"""
    return reported in REPORTABLE and STAGE[reported] > STAGE[current]


def states_moved_by(reported):
    """The statuses a report of `reported` may replace (for one conditional UPDATE)."""
    return [status for status in Status if report_moves(status, reported)]


ANYMAIL_STATUSES = {
    "queued": Status.SENT, "sent": Status.SENT, "deferred": Status.SOFT_BOUNCED, "delivered": Status.DELIVERED,
    "bounced": Status.BOUNCED, "rejected": Status.FAILED, "failed": Status.FAILED,
}

# Raw ESP events that anymail normalises to "bounced" although the refusal is temporary
# (Postmark "SoftBounce", Brevo/Mandrill "soft_bounce", MailerSend "soft_bounced").
SOFT_BOUNCE_WORDS = ("softbounce", "soft_bounce", "soft_bounced", "soft bounce")


def is_soft_bounce(esp_event):
    """Does the ESP's own payload say this bounce is temporary?"""
    if not isinstance(esp_event, dict):
        return False
    if esp_event.get("hard_bounce") is False:  # Mailjet
        return True
    for key in ("Type", "type", "event", "Event", "RecordType"):
        value = esp_event.get(key)
        if isinstance(value, str) and value.strip().lower() in SOFT_BOUNCE_WORDS:
            return True
    return False


def anymail_status(event):
    """Our status for an anymail tracking event, or None for one we don't keep (opened...)."""
    status = ANYMAIL_STATUSES.get(event.event_type)
    if status == Status.BOUNCED and is_soft_bounce(getattr(event, "esp_event", None)):
        return Status.SOFT_BOUNCED
    return status


def metadata_signature(notification_id):
    """Signs the record id an email carries as ESP metadata: a tracking event may name a
    record by id only with this signature, which no one without the SECRET_KEY can make."""
    return salted_hmac("notifications.email-metadata", str(notification_id)).hexdigest()[:32]


def metadata_signature_ok(notification_id, signature):
    return bool(signature) and constant_time_compare(metadata_signature(notification_id), str(signature))


def report_key(*parts):
    """A fixed-size key for a provider's report, from what identifies it."""
    return hashlib.sha256("\x1f".join(str(part or "") for part in parts).encode()).hexdigest()


def record_report(notification, status, *, raw_event, provider_code="", event_key=""):
    """Add the report to the record's status log. Returns False, adding nothing, when a
    report with the same key is already there (a replay)."""
    try:
        with transaction.atomic():  # a savepoint: a replay must not break the caller's transaction
            StatusEvent.objects.create(notification=notification, status=status, raw_event=raw_event[:64],
                                       provider_code=str(provider_code or "")[:32],
                                       provider_event_key=event_key[:64], received_at=timezone.now())
    except IntegrityError:
        if not event_key:
            raise
        log.info("notification %s: %s report already received, replay ignored", notification.pk, raw_event)
        return False
    return True


def apply_status(notification, status, *, raw_event, provider_code="", provider_message_id="", event_key=""):
    """Record the report; move the record to `status` if the state machine allows it.
    Returns True when the record moved; a replayed report (same `event_key`) changes nothing."""
    if not record_report(notification, status, raw_event=raw_event, provider_code=provider_code, event_key=event_key):
        return False
    now = timezone.now()
    fields = {"status": status, "updated_at": now}
    if provider_code and status in FAILURES:
        fields["error_code"] = str(provider_code)[:32]
    # One conditional UPDATE: two reports racing cannot both win, whatever their order.
    moved = Notification.objects.filter(pk=notification.pk, status__in=states_moved_by(status)).update(**fields) == 1
    if provider_message_id:
        # A report for a record whose sender crashed before saving the provider's id.
        Notification.objects.filter(pk=notification.pk, provider_message_id="").update(provider_message_id=provider_message_id)
    log.info("notification %s: %s report %s (%s)", notification.pk, raw_event, "applied" if moved else "ignored", status)
    return moved


# --- SMS: statuses and replies, from any provider's webhook --------------------------------


def sms_notification(event):
    """The SMS record a status event is about, or None: found by the provider's message id; the
    record id from the callback URL only for a record whose sender crashed before saving the
    provider's id (the URL is the provider's to authenticate: signed by Twilio, behind Brevo's
    credentials)."""
    notification = Notification.objects.filter(provider_message_id=event.message_id, channel=Channel.SMS).first()
    if notification is None and event.reference.isdigit():
        notification = Notification.objects.filter(pk=int(event.reference), channel=Channel.SMS,
                                                    provider_message_id__in=["", event.message_id]).first()
    return notification


@receiver(sms_status, dispatch_uid="notifications.sms_status")
def on_sms_status(sender, event, **kwargs):
    notification = sms_notification(event)
    if notification is None:
        log.warning("%s status %s for an unknown message", event.provider, event.raw_status)
        return
    moved = apply_status(notification, event.status, raw_event=f"{event.provider}:{event.raw_status}",
                         provider_code=event.error_code, provider_message_id=event.message_id, event_key=event.event_key)
    if moved and event.status in FAILURES:
        # The carrier may say the number itself is at fault: mark it, and the email goes instead.
        sms_failed(notification, event.error_code, event.provider)


# Replies that opt out of SMS: Twilio's own opt-out keywords, and French ones. Compared
# without accents, case or punctuation, on the first word (or first two glued together), so
# that "Stop merci", "ARRÊT", "stop." and "opt out" all count.
OPT_OUT_KEYWORDS = {
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",
    "ARRET", "ARRETER", "STOPSMS", "DESABONNER", "DESINSCRIRE", "DESINSCRIPTION",
}


def normalise_reply(text):
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    return " ".join(re.sub(r"[^A-Z ]", " ", text).split())


def is_opt_out(body, opt_out_type=""):
    """Does this inbound SMS opt out? The provider's own opt-out handling may say so itself
    (Twilio's OptOutType); otherwise the first word decides."""
    if (opt_out_type or "").strip().upper() == "STOP":
        return True
    words = normalise_reply(body).split()
    return bool(words) and (words[0] in OPT_OUT_KEYWORDS or "".join(words[:2]) in OPT_OUT_KEYWORDS)


@receiver(sms_inbound, dispatch_uid="notifications.sms_inbound")
def on_sms_inbound(sender, event, **kwargs):
    if is_opt_out(event.body, event.opt_out_type):
        suppress(Channel.SMS, event.from_number, source=ConsentSource.INBOUND_SMS)
    elif event.opt_out_type.strip().upper() == "START":
        # The person texted START and the provider delivers to them again; the number may
        # receive SMS from the next booking that gives it.
        lifted = Suppression.objects.filter(channel=Channel.SMS, address=normalise(Channel.SMS, event.from_number)).delete()[0]
        log.info("inbound START: %d SMS suppression(s) lifted", lifted)


# --- Email: anymail's normalised tracking events ----------------------------------------------


def tracked_notification(event):
    """The email record an anymail event is about, or None.

    Found by the provider's message id stored on the record. The record id we put in the
    metadata is used only for a record that has no provider id yet (its sender crashed
    after the ESP took the message, before saving the id) and only with our signature: a
    forged or stray event cannot name an arbitrary record.
    """
    message_id = str(event.message_id or "")
    if message_id:
        notification = Notification.objects.filter(provider_message_id=message_id, channel=Channel.EMAIL).first()
        if notification is not None:
            return notification
    metadata = event.metadata or {}
    reference = str(metadata.get("notification_id", ""))
    if not (message_id and reference.isdigit() and metadata_signature_ok(reference, metadata.get("notification_sig"))):
        return None
    return Notification.objects.filter(pk=int(reference), channel=Channel.EMAIL, provider_message_id="",
                                       status__in=[Status.SENDING, Status.UNCERTAIN]).first()


@receiver(tracking, dispatch_uid="notifications.anymail_tracking")
def on_anymail_tracking(sender, event, esp_name, **kwargs):
    notification = tracked_notification(event)
    if notification is None:
        log.info("%s %s event for no known email, ignored", esp_name, event.event_type)
        return
    raw_event = f"{esp_name}:{event.event_type}"
    if event.event_id:
        key = report_key(esp_name, "id", event.event_id)
    else:
        key = report_key(esp_name, event.event_type, event.message_id, event.timestamp and event.timestamp.isoformat(),
                         event.reject_reason, event.recipient)
    if event.event_type in ("unsubscribed", "complained"):
        # Kept in the status log (the record's status unchanged), so that a replay of an old
        # unsubscribe adds nothing. The address we sent this message to opts out (not one the
        # report names: only the record, found by its provider id, is trusted), whichever
        # contact (or agent) holds it.
        if record_report(notification, notification.status, raw_event=raw_event, event_key=key):
            suppress(Channel.EMAIL, notification.to, source=ConsentSource.EMAIL_UNSUBSCRIBE)
        return
    status = anymail_status(event)
    if status is None:
        return  # opened, clicked...: not a delivery status we keep
    apply_status(notification, status, raw_event=raw_event, provider_code=(event.reject_reason or "")[:32],
                 provider_message_id=str(event.message_id or ""), event_key=key)
