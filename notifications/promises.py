"""The reminders an appointment will get, in words, for appointments/reach.py (registered in
NotificationsConfig.ready): the same rule the planning applies (schedule.plan), so that what
the confirmation page and the agent's messages promise is what the sweep sends."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from appointments.zones import zone_for

from . import schedule
from .reminders import touches_for


def _delay(hours):
    if hours % 24 == 0 and hours > 48:
        days = hours // 24
        return ngettext("%(count)s jour avant", "%(count)s jours avant", days) % {"count": days}
    return ngettext("%(count)s heure avant", "%(count)s heures avant", hours) % {"count": hours}


def _one(planned, starts_at, zone, *, sms, email):
    words = _("un rappel %(delay)s le rendez-vous") % {"delay": _delay(planned.stage)}
    channels = schedule.channel_list(planned.channels)
    if len(channels) == 1 and sms and email:
        words += " " + (_("par SMS") if schedule.SMS in channels else _("par e-mail"))
    exact = starts_at - timedelta(hours=planned.stage)
    if planned.due_at != exact:
        local = timezone.localtime(planned.due_at, zone)
        words += " " + _("(le %(day)s à %(time)s : pas de SMS la nuit)") % {
            "day": local.strftime("%d/%m"), "time": local.strftime("%Hh%M")}
    return words


def _in_words(planned, starts_at, zone, *, sms, email):
    reaching = [p for p in planned if (sms and schedule.SMS in schedule.channel_list(p.channels))
                or (email and schedule.EMAIL in schedule.channel_list(p.channels))]
    parts = [_one(p, starts_at, zone, sms=sms, email=email) for p in reaching]
    if len(parts) <= 1:
        return "".join(parts)
    return _("%(first)s et %(last)s") % {"first": ", ".join(parts[:-1]), "last": parts[-1]}


def planned_in_words(appointment, contact):
    """The reminders still planned for this version of the appointment that will reach this
    contact, in words (for the confirmation and change emails); "" when none."""
    from .models import PlannedReminder, ReminderState

    rows = PlannedReminder.objects.filter(appointment=appointment, sequence=appointment.sequence,
                                          status=ReminderState.PLANNED).order_by("due_at")
    planned = [schedule.Planned(stage=r.stage, due_at=r.due_at, channels=r.channels) for r in rows]
    return _in_words(planned, appointment.starts_at, appointment.zone,
                     sms=contact.can_receive_sms(), email=contact.can_receive_email())


def reminders_in_words(motif, place, starts_at, now, *, sms=True, email=True):
    """(words, reason): the reminders a contact reachable by `sms` / `email` will get for an
    appointment of `motif` at `place` starting at `starts_at`, booked at `now` ("un rappel
    48 heures avant le rendez-vous"); or "" and why none (a clause: "le rendez-vous commence
    dans moins de 48 heures")."""
    touches = touches_for([motif.pk])[motif.pk] if motif is not None else schedule.default_touches()
    organisation = motif.organisation if motif is not None else place.organisation if place is not None else None
    zone = zone_for(organisation, place) if organisation is not None else timezone.get_default_timezone()
    planned = schedule.plan(touches, starts_at=starts_at, zone=zone, now=now)
    words = _in_words(planned, starts_at, zone, sms=sms, email=email)
    if words:
        return words, ""
    if not touches:
        return "", _("ce motif ne prévoit pas de rappel")
    if planned:
        return "", _("les rappels de ce motif ne partent pas sur ces coordonnées")
    hours = min(touch.hours for touch in touches)
    return "", _("le rendez-vous commence dans moins de %(hours)s heures") % {"hours": hours}
