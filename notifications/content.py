"""What each notification says: SMS text, email (HTML + text + .ics), from the templates
under templates/notifications/. Always rendered in French, whatever language the worker
process happens to have active."""

import copy
from datetime import timezone as dt_timezone
from email.mime.text import MIMEText
from email.utils import formataddr, make_msgid, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from icalendar import Calendar, Event as IcsEvent, vCalAddress, vText

from appointments.dates import (
    french_compact_datetime, french_date, french_datetime, french_duration, french_short_datetime,
    french_short_duration, french_time,
)
from appointments.models import Place

from . import gsm
from .promises import planned_in_words
from .models import Event
from .status import metadata_signature

SMS_TEMPLATE = "notifications/sms/{event}.txt"


@translation.override("fr")
def describe_previous(appointment, previous):
    """What the citizen knew before a change, and what changed, as the strings the change
    messages show.

    `previous` is the {field: old value} the appointment_changed signal carries; the
    result is stored on the Notification (JSON) so the message can be rendered later.
    Dates are compared as the citizen reads them, each in its own place's zone: a move to a
    place in another zone changes the time told even when the instant stays.
    """
    before = copy.copy(appointment)
    for field, value in previous.items():
        setattr(before, field, value)
    if "place_id" in previous:
        before.place = Place.objects.filter(pk=previous["place_id"]).first() if previous["place_id"] else None
    old_zone, new_zone = before.zone, appointment.zone
    old_local, new_local = before.starts_at.astimezone(old_zone), appointment.starts_at.astimezone(new_zone)
    place_changed = bool({"place_id", "address", "visio_url"} & set(previous))
    type_changed = "location_type" in previous and previous["location_type"] != appointment.location_type
    return {
        "day_changed": old_local.date() != new_local.date(),
        "time_changed": old_local.time() != new_local.time(),
        "date_changed": old_local.replace(tzinfo=None) != new_local.replace(tzinfo=None),
        "zone_changed": str(old_zone) != str(new_zone),
        "place_changed": place_changed or type_changed,
        "type_changed": type_changed,
        "duration_changed": "duration_minutes" in previous and previous["duration_minutes"] != appointment.duration_minutes,
        "date": french_datetime(before.starts_at, old_zone),
        "day": french_date(before.starts_at, old_zone),
        "time": french_time(before.starts_at, old_zone),
        "short_date": french_short_datetime(before.starts_at, old_zone),
        "compact_date": french_compact_datetime(before.starts_at, old_zone),
        "location_type": str(before.get_location_type_display()),
        "address": str(before.address_line()),
        "duration": french_duration(before.duration_minutes),
    }


@translation.override("fr")
def changes_in_words(appointment, previous):
    """Each change of a change message as one French sentence, for the email: date, time,
    place, type, duration. Records saved before these keys existed say what they can."""
    zone = appointment.zone
    changes = []
    if previous.get("day_changed"):
        changes.append(_("Date : %(new)s au lieu du %(old)s.") % {"new": french_date(appointment.starts_at, zone),
                                                                "old": previous["day"]})
    if previous.get("time_changed"):
        sentence = _("Heure : %(new)s au lieu de %(old)s.") if not previous.get("zone_changed") else _(
            "Heure : %(new)s, heure locale du nouveau lieu, au lieu de %(old)s, heure de l'ancien lieu.")
        changes.append(sentence % {"new": french_time(appointment.starts_at, zone), "old": previous["time"]})
    if previous.get("type_changed"):
        changes.append(_("Type de rendez-vous : %(new)s au lieu de %(old)s.") % {
            "new": appointment.get_location_type_display(), "old": previous["location_type"]})
    if previous.get("place_changed"):
        changes.append(_("Lieu : %(new)s au lieu de %(old)s.") % {"new": appointment.address_line(), "old": previous["address"]})
    if previous.get("duration_changed"):
        changes.append(_("Durée : %(new)s au lieu de %(old)s.") % {
            "new": french_duration(appointment.duration_minutes), "old": previous["duration"]})
    return changes


def context_for(notification, appointment):
    motif, service, organisation = appointment.motif, appointment.motif.service, appointment.organisation
    zone = appointment.zone
    contact = notification.contact
    previous = notification.previous or {}
    return {
        "event": notification.event,
        "brand": organisation.brand_label,
        "organisation": organisation.name,
        "service": service.name,
        "motif": motif.name,
        "date": french_datetime(appointment.starts_at, zone),
        "short_date": french_short_datetime(appointment.starts_at, zone),
        "compact_date": french_compact_datetime(appointment.starts_at, zone),
        "location_type": str(appointment.get_location_type_display()),
        "address": str(appointment.address_line()),
        "duration": appointment.duration_minutes,
        "duration_words": french_short_duration(appointment.duration_minutes),
        "instructions": motif.instructions,
        "link": appointment.link_url(),
        "rebook_link": appointment.rebook_url() if appointment.can_be_rebooked_online() else "",
        "contact": contact,
        "previous": previous,
        "changes": changes_in_words(appointment, previous) if notification.event == Event.CHANGE else [],
        "cancellation_reason": appointment.cancellation_reason,
        # Which reminders will come, told with the confirmation and each change.
        "reminders": planned_in_words(appointment, contact)
        if contact is not None and notification.event in (Event.CONFIRMATION, Event.CHANGE) else "",
    }


# --- SMS ---------------------------------------------------------------------------------

def sms_sender(brand):
    """The brand's alphanumeric sender id, or '' when the SMS goes from the deployment's own
    sender (no id configured, or a sender that must receive replies: an id cannot)."""
    if settings.SMS_SENDER_RECEIVES_REPLIES:
        return ""
    return settings.SMS_SENDER_IDS.get(brand, "")


def sms_variants(service):
    """From the richest text to the leanest. The service always stays (its short name is
    checked to fit when saved, see short_name_room()); a change's old date goes from
    "mar. 12/03 à 14h30" to "12/03 à 14h30", then out ("déplacé au ..." still says it moved).
    The last variant, without the service, is only for a short name saved before the check."""
    short = service.short_name or service.name
    for name in dict.fromkeys(name for name in (service.name, service.short_name) if name):
        yield {"service_label": name, "old_date_style": "compact"}
    yield {"service_label": short, "old_date_style": "short"}
    yield {"service_label": short, "old_date_style": "none"}
    yield {"service_label": "", "old_date_style": "short"}


def sms_text(event, context):
    """One SMS as sent: the template's words on one line, in the GSM-7 alphabet."""
    return gsm.transliterate(" ".join(render_to_string(SMS_TEMPLATE.format(event=event), context).split()))


def sms_context(notification, appointment):
    context = context_for(notification, appointment)
    sender = sms_sender(appointment.organisation.brand)
    # Without the brand's own sender id, the text says who writes.
    context.update(sender=sender, brand_prefix="" if sender else context["brand"], kind=appointment.location_type)
    return context


def day_items(notification, appointment):
    """A reminder naming the recipient's other appointments of the day: each one still
    standing, in order (service, short name, time, link)."""
    from appointments.models import Appointment, AppointmentStatus

    others = Appointment.objects.filter(pk__in=notification.also, status=AppointmentStatus.CONFIRMED)
    zone = appointment.zone
    return [
        {"service": a.motif.service.name, "short": a.motif.service.short_name or a.motif.service.name,
         "time": french_time(a.starts_at, zone), "link": a.link_url()}
        for a in sorted([appointment, *others.select_related("motif__service")], key=lambda a: a.starts_at)
    ]


def render_day_sms(notification, appointment):
    """(text, segments): one reminder SMS for the day's appointments; the first variant
    that fits one segment (names, short names, then fewer words), else the leanest, in as
    many segments as it takes (the count is recorded on the notification)."""
    with translation.override("fr"):
        context = sms_context(notification, appointment)
        items = day_items(notification, appointment)
        context.update(items=items, count=len(items), day=french_compact_datetime(appointment.starts_at, appointment.zone)
                       .split(" à ")[0])
        text = ""
        for lean, label in ((False, "service"), (False, "short"), (True, "service"), (True, "short")):
            text = sms_text("reminder_day", {**context, "lean": lean,
                                             "items": [{**item, "label": item[label]} for item in items]})
            if gsm.fits_one_segment(text):
                break
    return text, gsm.segment_count(text)


def render_sms(notification, appointment):
    """(text, segments): the first variant that fits one GSM-7 segment, transliterated."""
    if notification.event == Event.REMINDER and notification.also:
        return render_day_sms(notification, appointment)
    with translation.override("fr"):
        context = sms_context(notification, appointment)
        text = ""
        for variant in sms_variants(appointment.motif.service):
            text = sms_text(notification.event, {**context, **variant})
            if gsm.fits_one_segment(text):
                break
    return text, gsm.segment_count(text)


# The longest values each SMS field can take, to size the room left for a service's name.
LONGEST_COMPACT_DATE = "mer. 30/09 à 12h30"
LONGEST_DURATION = "1 h 30"
WORST_CHANGES = [  # what a change SMS can say besides the dates
    {"date_changed": True, "day_changed": True, "time_changed": True, "place_changed": True, "duration_changed": True},
    {"date_changed": True, "day_changed": True, "place_changed": True, "type_changed": True, "duration_changed": True},
    {"type_changed": True, "place_changed": True, "duration_changed": True},
    {"place_changed": True, "duration_changed": True},
    {"duration_changed": True},
]


@translation.override("fr")
def short_name_room(brand):
    """How many GSM-7 septets every SMS of `brand` leaves for a service's short name: every
    event, every type, every kind of change, at the longest date and duration, with the
    deployment's link (PUBLIC_BASE_URL) — in the leanest variant that keeps the service and
    (a change's old date goes first: "déplacé au ..." still says it moved)."""
    from appointments.models import Brand, LocationType

    token = "A" * 11
    link = f"{settings.PUBLIC_BASE_URL}/r/{token}"
    sender = sms_sender(brand)
    base = {
        "brand": Brand(brand).label, "brand_prefix": "" if sender else Brand(brand).label, "sender": sender,
        "compact_date": LONGEST_COMPACT_DATE, "duration_words": LONGEST_DURATION, "link": link,
        "rebook_link": f"{link}/reprendre", "service_label": "", "old_date_style": "none",
    }
    longest = 0
    for kind, label in LocationType.choices:
        for event in Event.values:
            for changes in WORST_CHANGES if event == Event.CHANGE else [{}]:
                previous = {**changes, "compact_date": LONGEST_COMPACT_DATE, "short_date": "30/09 à 12h30"}
                context = {**base, "kind": kind, "location_type": str(label), "previous": previous}
                longest = max(longest, gsm.septets(sms_text(event, context)) or 0)
    return gsm.SINGLE_SEGMENT_SEPTETS - longest - 1  # and a space before the name


def check_short_name(service):
    """(septets the short name takes, septets its SMS leave): appointments' Service.clean()
    refuses a short name that would not fit (SERVICE_SHORT_NAME_CHECKS)."""
    used = gsm.septets(gsm.transliterate(service.short_name or ""))
    return used, short_name_room(service.organisation.brand)


# --- Email -------------------------------------------------------------------------------

def sender(brand):
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((brand, address or "ne-pas-repondre@localhost"))


def render_email(notification, appointment):
    """An EmailMultiAlternatives: plain text, HTML alternative and, for citizens, the .ics."""
    with translation.override("fr"):
        context = context_for(notification, appointment)
        if notification.recipient_agent_id:
            context.update(agent=notification.recipient_agent, admin_url=admin_url(appointment),
                           contacts=list(appointment.contacts.all()))
            template = "notifications/email/agent"
        else:
            template = "notifications/email/citizen"
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=sender(context["brand"]), to=[notification.to],
        headers={"Message-ID": make_msgid(domain=parseaddr(settings.DEFAULT_FROM_EMAIL)[1].partition("@")[2] or None),
                 "Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    message.attach(calendar_attachment(notification, appointment))
    # ESPs that support it echo metadata back in tracking events: a crash between the
    # ESP's answer and our commit can still be matched to its record. The id is signed, so
    # that a tracking event cannot name any other record (notifications/webhooks.py).
    message.metadata = {"notification_id": str(notification.pk),
                        "notification_sig": metadata_signature(notification.pk)}
    return message


def admin_url(appointment):
    try:
        return settings.PUBLIC_BASE_URL + reverse("admin:appointments_appointment_change", args=[appointment.pk])
    except NoReverseMatch:  # pragma: no cover - admin not installed
        return appointment.link_url()


def ics_uid(appointment):
    host = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].partition("@")[2] or "rdv.localhost"
    return f"rdv-{appointment.pk}@{host}"


def calendar_attachment(notification, appointment):
    """The .ics part. Citizens get PUBLISH (an event to add, nothing to answer), agents a
    REQUEST naming them as ATTENDEE (RFC 5546 requires one); both get CANCEL, same UID and a
    higher SEQUENCE, when the appointment is cancelled. Built as a MIMEText so that the
    content type carries one charset (Django's attach() would add a second)."""
    method = "CANCEL" if notification.event == Event.CANCELLATION else "PUBLISH" if notification.contact_id else "REQUEST"
    if notification.contact_id:
        attendee = (notification.to, notification.contact.full_name) if method == "CANCEL" else None
    else:
        attendee = (notification.to, str(notification.recipient_agent))
    part = MIMEText(ics(appointment, method=method, attendee=attendee), "calendar", "utf-8")
    # Written out: the email package would quote both values, which some clients misread.
    part.replace_header("Content-Type", f"text/calendar; method={method}; charset=utf-8")
    part.add_header("Content-Disposition", "attachment", filename="rendez-vous.ics")
    return part


def ics(appointment, *, method="PUBLISH", attendee=None):
    """An iCalendar event; same UID for the appointment's whole life, SEQUENCE =
    appointment.sequence, so that calendar applications update or remove their event.

    Times are written in UTC: a local time with TZID cannot name the second occurrence of
    the hour repeated when clocks go back (RFC 5545 reads it as the first), so an appointment
    at 2h30 after the change would be placed an hour early, its end before its start.
    `attendee`: (address, name) of the person invited, for REQUEST and CANCEL.
    """
    with translation.override("fr"):
        calendar = Calendar()
        calendar.add("prodid", "-//RDV Service Public//rendez-vous//FR")
        calendar.add("version", "2.0")
        calendar.add("method", method)
        event = IcsEvent()
        event.add("uid", ics_uid(appointment))
        event.add("sequence", appointment.sequence)
        event.add("dtstamp", timezone.now().astimezone(dt_timezone.utc))
        event.add("dtstart", appointment.starts_at.astimezone(dt_timezone.utc))
        event.add("dtend", appointment.ends_at.astimezone(dt_timezone.utc))
        event.add("summary", f"{appointment.motif.name} — {appointment.motif.service.name}")
        event.add("location", str(appointment.address_line()))
        description = appointment.motif.instructions
        event.add("description", f"{description}\n\n{appointment.link_url()}".strip())
        event.add("url", appointment.link_url())
        organizer = vCalAddress(f"mailto:{parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}")
        organizer.params["cn"] = vText(appointment.organisation.brand_label)
        event["organizer"] = organizer
        if attendee is not None:
            address, name = attendee
            invited = vCalAddress(f"mailto:{address}")
            invited.params["cn"] = vText(name)
            invited.params["role"] = vText("REQ-PARTICIPANT")
            invited.params["partstat"] = vText("ACCEPTED")  # the agent is assigned, not asked
            invited.params["rsvp"] = vText("FALSE")
            event.add("attendee", invited, encode=0)
        event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
        calendar.add_component(event)
    return calendar.to_ical().decode()
