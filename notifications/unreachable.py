"""The delivery loop back to the agent: numbers the carrier reports undeliverable.

When a provider says an SMS cannot reach its number for reasons of the number itself (unknown,
no longer assigned, not a mobile, invalid: `NUMBER_CODES`), whether in a status callback or as
the answer to the send call, `sms_failed()` — the one way in, called by status.py and by the
delivery's permanent-failure branch —

- marks the number unreachable (`UnreachableNumber`: the number, the provider, its code, the
  date), whichever contact holds it;
- puts the email in the SMS's place for a confirmation, change or reminder when the contact
  has an email address with consent: once, since the email record's unique key
  (appointment, contact, event, channel, sequence, stage, resend 0) is taken if that email was
  already planned or sent, and a second failure report finds it taken.

Later SMS to a marked number are not attempted: the delivery cancels them with a French reason
(`refusal()`), and their email goes instead as for a failure. Agents see the mark on every
appointment of a contact holding the number (notifications/marks.py, through
appointments.notices) and in the data-quality list of the admin; correcting the contact's
number lifts it for that contact and offers to resend what did not go through
(`number_corrected()`).

A code that may only mean "not now" (Twilio 30003: a phone switched off, out of coverage, a
line suspended for a while: `TEMPORARY_CODES`) marks the number for UNREACHABLE_TEMPORARY_DAYS
after its latest failure only (`in_force()`); then the next SMS is attempted again, and a new
failure marks it anew. Without that, a citizen whose phone was off one weekend would never get
an SMS again unless an agent "corrected" a number that is right. Retention deletes lapsed marks.

Phone numbers never go to the logs: record ids and provider codes only.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy

from appointments.models import Appointment, AppointmentStatus, Channel, Contact

from .models import Event, Notification, Status, UnreachableNumber
from .suppression import normalise

log = logging.getLogger(__name__)

# Per provider, the codes that say "this number cannot receive SMS", and what they mean for an
# agent. Twilio's come in status callbacks (undelivered/failed with ErrorCode: 30003, 30005,
# 30006) or as the error of the send call (21211, 21614). Brevo reports a hard bounce for an
# invalid or nonexistent number (its webhook's msg_status, kept as the code when Brevo gives
# none: notifications/sms/webhooks/brevo.py); its send-time errors ("invalid_parameter") do not
# say which parameter, so none of them marks a number (we only send to French mobiles anyway).
NUMBER_CODES = {
    "twilio": {
        "30003": gettext_lazy("mobile injoignable (éteint, hors couverture ou ligne suspendue)"),
        "30005": gettext_lazy("numéro inconnu ou qui n'existe plus"),
        "30006": gettext_lazy("ligne fixe ou opérateur injoignable"),
        "21211": gettext_lazy("numéro invalide"),
        "21614": gettext_lazy("ce numéro n'est pas un mobile"),
    },
    "brevo": {
        word: gettext_lazy("refus définitif de l'opérateur (numéro invalide ou inexistant)")
        for word in ("hard_bounce", "hardbounce", "hardbounces")
    },
}

# The codes among those that may say "not now" rather than "never" (see above).
TEMPORARY_CODES = {"twilio": {"30003"}}

# The messages whose email goes instead when their SMS cannot reach the number.
FALLBACK_EVENTS = (Event.CONFIRMATION, Event.CHANGE, Event.REMINDER)

# Stored on the SMS records the delivery cancels for a marked number.
REFUSAL = gettext_lazy("Non envoyé : ce numéro a été signalé injoignable par l'opérateur (vérifiez-le avec "
                       "l'usager) ; l'e-mail part à la place s'il en a un.")

# The mark agents see on the appointment, in their list and in the agenda.
LABEL = gettext_lazy("SMS non remis — vérifier le numéro")

# What a corrected number may send again: the last attempt ended without reaching anyone.
NOT_THROUGH = (Status.FAILED, Status.UNDELIVERED, Status.BOUNCED, Status.CANCELLED)


def _code(code):
    return str(code or "").strip().lower()


def is_number_failure(provider, code):
    """Does this provider's code say the number itself cannot receive SMS?"""
    return _code(code) in NUMBER_CODES.get(provider or "", {})


def is_temporary(provider, code):
    return _code(code) in TEMPORARY_CODES.get(provider or "", ())


def _lapsed_condition(now=None):
    cutoff = (now or timezone.now()) - timedelta(days=settings.UNREACHABLE_TEMPORARY_DAYS)
    temporary = Q(pk__in=[])
    for provider, codes in TEMPORARY_CODES.items():
        temporary |= Q(provider=provider, code__in=codes)
    return temporary & Q(marked_at__lt=cutoff)


def in_force(marks, now=None):
    """The marks of the queryset `marks` that still hold: every mark but the temporary ones
    older than UNREACHABLE_TEMPORARY_DAYS."""
    return marks.exclude(_lapsed_condition(now))


def lapsed(now=None):
    """The temporary marks that no longer hold (retention deletes them)."""
    return UnreachableNumber.objects.filter(_lapsed_condition(now))


def meaning(provider, code):
    """The code in words for an agent ("numéro invalide"), or the bare code."""
    words = NUMBER_CODES.get(provider or "", {}).get(_code(code))
    return str(words) if words else str(code)


def sms_failed(notification, code, provider):
    """The one way in: the SMS `notification` (a record or its id) failed for good with the
    provider's `code`. When the code is about the number, mark it and put the email in the SMS's
    place. Returns True when the number was marked. Idempotent: a second report of the same
    failure (or another failure of the same message) changes nothing."""
    if not isinstance(notification, Notification):
        notification = Notification.objects.select_related("appointment", "contact").get(pk=notification)
    if notification.channel != Channel.SMS or not is_number_failure(provider, code):
        return False
    number = normalise(Channel.SMS, notification.to)
    if not number:
        return False  # the record's text was blanked by the retention pass
    with transaction.atomic():
        fields = dict(provider=(provider or "")[:32], code=_code(code)[:32], marked_at=timezone.now(),
                      notification=notification)
        mark, marked = UnreachableNumber.objects.select_for_update().get_or_create(phone=number, defaults=fields)
        if not marked and is_temporary(mark.provider, mark.code):
            # A temporary mark lasts from the latest failure; a lasting code replaces it.
            for name, value in fields.items():
                setattr(mark, name, value)
            mark.save(update_fields=list(fields))
        emails = fall_back_to_email(notification, number)
    log.warning("notification %s: %s code %s, number %s unreachable; %d fallback email(s)", notification.pk, provider,
                _code(code), "marked" if marked else "already marked", len(emails))
    return True


def marked_among(numbers):
    """The numbers of `numbers` (normalised) marked unreachable, in one query: what a batch asks."""
    normalised = {normalise(Channel.SMS, number) for number in numbers} - {""}
    return set(in_force(UnreachableNumber.objects.filter(phone__in=normalised)).values_list("phone", flat=True))


def refusal(notification, marked=None):
    """Why the delivery must not attempt this SMS: its number is marked unreachable (None
    otherwise). Its email takes its place, as for a failure. `marked`: the marked numbers among
    a batch's, when the caller looked them up at once."""
    if notification.channel != Channel.SMS:
        return None
    number = normalise(Channel.SMS, notification.to)
    if not number:
        return None
    if not (number in marked if marked is not None else in_force(UnreachableNumber.objects.filter(phone=number)).exists()):
        return None
    emails = fall_back_to_email(notification, number)
    log.info("notification %s: not attempted, its number is marked unreachable; %d fallback email(s)",
             notification.pk, len(emails))
    return str(REFUSAL)


def _still_told(appointment, sequence, now):
    """Would the delivery still send a message of this version? (Else no email is made for it.)"""
    return (appointment.starts_at > now and appointment.status == AppointmentStatus.CONFIRMED
            and appointment.sequence == sequence)


def fall_back_to_email(notification, number, now=None):
    """The email records that go instead of this SMS: for its own appointment and, for a
    reminder that named the citizen's other appointments of the day, for those too. Created
    only where the email of that event, version and stage does not exist yet (the unique key
    decides, so two reports at once make one). Enqueued after commit; returns the new ones."""
    from .planning import enqueue

    if notification.event not in FALLBACK_EVENTS or notification.contact_id is None:
        return []
    now = now or timezone.now()
    targets = [(notification.appointment, notification.contact, notification.sequence, notification.previous)]
    if notification.also:
        # The grouped reminder stood for these appointments' reminder SMS (recorded "regroupé").
        for appointment in Appointment.objects.filter(pk__in=notification.also).prefetch_related("contacts"):
            targets += [(appointment, contact, appointment.sequence, {}) for contact in appointment.contacts.all()
                        if normalise(Channel.SMS, contact.phone) == number]
    created = []
    for appointment, contact, sequence, previous in targets:
        if not contact.can_receive_email() or not _still_told(appointment, sequence, now):
            continue
        email, made = Notification.objects.get_or_create(
            appointment=appointment, contact=contact, event=notification.event, channel=Channel.EMAIL,
            sequence=sequence, stage=notification.stage, resend=0, defaults=dict(to=contact.email, previous=previous or {}),
        )
        if made:
            created.append(email)
    if created:
        pairs = [(email.pk, email.channel) for email in created]
        transaction.on_commit(lambda: enqueue(pairs))
    return created


# --- What agents see ---------------------------------------------------------------------


def marks_by_number(phones):
    """{E.164 number: UnreachableNumber} for those of `phones` that are marked (one query)."""
    numbers = {normalise(Channel.SMS, phone) for phone in phones if phone}
    numbers.discard("")
    if not numbers:
        return {}
    return {mark.phone: mark for mark in in_force(UnreachableNumber.objects.filter(phone__in=numbers))}


def mark_of(contact):
    """The contact's number's mark, or None."""
    return marks_by_number([contact.phone]).get(normalise(Channel.SMS, contact.phone))


def describe(mark, names):
    """The sentence behind the flag, for the agents of `names` (who hold the number)."""
    return _("Le numéro de %(names)s a été signalé injoignable par l'opérateur le %(date)s (%(reason)s, code "
             "%(code)s) : les SMS n'y sont plus envoyés. Vérifiez-le avec l'usager et corrigez sa fiche.") % {
        "names": names, "date": timezone.localtime(mark.marked_at).strftime("%d/%m/%Y"),
        "reason": meaning(mark.provider, mark.code), "code": mark.code}


# --- A corrected number ------------------------------------------------------------------


def number_corrected(contact, old_phone, now=None):
    """The contact's number changed from `old_phone`. None when that number was not marked;
    otherwise the mark no longer concerns this contact (it is dropped once no contact holds the
    number) and this returns the SMS records to offer again (`to_resend`)."""
    old = normalise(Channel.SMS, old_phone)
    if not old or old == normalise(Channel.SMS, contact.phone):
        return None
    if not UnreachableNumber.objects.filter(phone=old).exists():
        return None
    if not Contact.objects.filter(phone=old).exists():
        UnreachableNumber.objects.filter(phone=old).delete()
    log.info("contact %s: number corrected, its unreachable mark lifted", contact.pk)
    return to_resend(contact, old, now)


def to_resend(contact, old_number, now=None):
    """The SMS of the contact's upcoming appointments whose last attempt went to `old_number`
    and did not reach anyone (failed, undelivered, or not attempted because of the mark), for
    the appointment as it now stands. Empty when the contact cannot receive SMS any more."""
    if not contact.can_receive_sms():
        return []
    rows = Notification.objects.filter(
        contact=contact, channel=Channel.SMS, appointment__starts_at__gt=now or timezone.now(),
        appointment__status=AppointmentStatus.CONFIRMED,
    ).select_related("appointment").order_by("resend")
    last = {}
    for row in rows:
        last[(row.appointment_id, row.event, row.sequence, row.stage)] = row  # the highest resend wins
    return [row for row in last.values()
            if row.to == old_number and row.status in NOT_THROUGH and row.sequence == row.appointment.sequence]
