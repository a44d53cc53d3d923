"""The agents' marks about a citizen's messages (appointments.notices asks, we answer):
a message to a citizen that failed, a number the carrier reported unreachable (« SMS non remis
— vérifier le numéro », notifications/unreachable.py), and a citizen who will receive nothing.

Two queries for any number of appointments: the marked numbers among their contacts', and the
contacts' notification records of these appointments, reduced here to the last attempt of each
message (a successful resend clears the mark). An SMS that failed on a marked number shows as
that mark only, not as a failed message as well.
"""

from django.utils.translation import gettext as _

from appointments.models import AppointmentStatus, Channel
from appointments.notices import FAILED, NOTHING, UNREACHABLE, Mark

from . import unreachable
from .models import Notification, Status

# The last attempt of a message ended in one of these: the citizen may not have been told.
FAILURES = (Status.FAILED, Status.UNDELIVERED, Status.BOUNCED, Status.UNCERTAIN)


def failed_messages(appointment_ids, unreachable_numbers=()):
    """{appointment_id: number of messages to citizens whose last attempt failed}, leaving
    out SMS to `unreachable_numbers` (their own mark says more)."""
    last = {}
    rows = Notification.objects.filter(appointment_id__in=appointment_ids, contact__isnull=False).values_list(
        "appointment_id", "contact_id", "event", "channel", "sequence", "stage", "resend", "status", "to"
    )
    for appointment_id, contact_id, event, channel, sequence, stage, resend, status, to in rows:
        key = (appointment_id, contact_id, event, channel, sequence, stage)
        if key not in last or last[key][0] < resend:
            last[key] = (resend, status, channel == Channel.SMS and to in unreachable_numbers)
    failed = {}
    for (appointment_id, *_rest), (_resend, status, on_marked_number) in last.items():
        if status in FAILURES and not on_marked_number:
            failed[appointment_id] = failed.get(appointment_id, 0) + 1
    return failed


def reaches_nobody(contact, marked=()):
    """No channel, no message (recipients.ContactNotificationData says the same for each event;
    an SMS to a number marked unreachable is not attempted: delivery.why_not_send)."""
    sms = contact.can_receive_sms() and str(contact.phone) not in marked
    return not sms and not contact.can_receive_email()


def unreachable_mark(appointment, marked):
    """« SMS non remis — vérifier le numéro » when a contact of the appointment holds a marked number."""
    holders = [(contact, marked[str(contact.phone)]) for contact in appointment.contacts.all()
               if contact.phone and str(contact.phone) in marked]
    if not holders:
        return None
    names = ", ".join(str(contact) for contact, _mark in holders)
    return Mark(UNREACHABLE, str(unreachable.LABEL), unreachable.describe(holders[0][1], names))


def citizen_marks(appointments):
    marked = unreachable.marks_by_number([c.phone for a in appointments for c in a.contacts.all()])
    failed = failed_messages([a.pk for a in appointments], set(marked))
    marks = {}
    for appointment in appointments:
        found = []
        number = unreachable_mark(appointment, marked)
        if number is not None:
            found.append(number)
        if failed.get(appointment.pk):
            found.append(Mark(FAILED, _("envoi en échec"),
                              _("Un message à l'usager n'a pas pu être délivré : voyez les notifications du rendez-vous.")))
        if appointment.status == AppointmentStatus.CONFIRMED:
            silent = [str(c) for c in appointment.contacts.all() if reaches_nobody(c, marked)]
            if silent:
                found.append(Mark(NOTHING, _("ne reçoit rien"),
                                  _("%(names)s ne recevra aucun message (ni SMS, ni e-mail) : prévenez-le vous-même.")
                                  % {"names": ", ".join(silent)}))
        if found:
            marks[appointment.pk] = found
    return marks
