"""The agents' marks about a citizen's messages (appointments.notices asks, we answer):
a message to a citizen that failed, and a citizen who will receive nothing.

One query for any number of appointments: the contacts' notification records of these
appointments, reduced here to the last attempt of each message (a successful resend clears
the mark).
"""

from django.utils.translation import gettext as _

from appointments.models import AppointmentStatus
from appointments.notices import FAILED, NOTHING, Mark

from .models import Notification, Status

# The last attempt of a message ended in one of these: the citizen may not have been told.
FAILURES = (Status.FAILED, Status.UNDELIVERED, Status.BOUNCED, Status.UNCERTAIN)


def failed_messages(appointment_ids):
    """{appointment_id: number of messages to citizens whose last attempt failed}."""
    last = {}
    rows = Notification.objects.filter(appointment_id__in=appointment_ids, contact__isnull=False).values_list(
        "appointment_id", "contact_id", "event", "channel", "sequence", "resend", "status"
    )
    for appointment_id, contact_id, event, channel, sequence, resend, status in rows:
        key = (appointment_id, contact_id, event, channel, sequence)
        if key not in last or last[key][0] < resend:
            last[key] = (resend, status)
    failed = {}
    for (appointment_id, *_rest), (_resend, status) in last.items():
        if status in FAILURES:
            failed[appointment_id] = failed.get(appointment_id, 0) + 1
    return failed


def reaches_nobody(contact):
    """No channel, no message (recipients.ContactNotificationData says the same for each event)."""
    return not contact.can_receive_sms() and not contact.can_receive_email()


def citizen_marks(appointments):
    failed = failed_messages([a.pk for a in appointments])
    marks = {}
    for appointment in appointments:
        found = []
        if failed.get(appointment.pk):
            found.append(Mark(FAILED, _("envoi en échec"),
                              _("Un message à l'usager n'a pas pu être délivré : voyez les notifications du rendez-vous.")))
        if appointment.status == AppointmentStatus.CONFIRMED:
            silent = [str(c) for c in appointment.contacts.all() if reaches_nobody(c)]
            if silent:
                found.append(Mark(NOTHING, _("ne reçoit rien"),
                                  _("%(names)s ne recevra aucun message (ni SMS, ni e-mail) : prévenez-le vous-même.")
                                  % {"names": ", ".join(silent)}))
        if found:
            marks[appointment.pk] = found
    return marks
