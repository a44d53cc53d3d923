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
from icalendar import Calendar, Event as IcsEvent, vCalAddress, vText

from appointments.dates import french_datetime, french_short_datetime
from appointments.models import Place

from . import gsm
from .models import Event
from .status import metadata_signature

SMS_TEMPLATE = "notifications/sms/{event}.txt"


@translation.override("fr")
def describe_previous(appointment, previous):
    """What the citizen knew before a change, as the strings a change message shows.

    `previous` is the {field: old value} the appointment_changed signal carries; the
    result is stored on the Notification (JSON) so the message can be rendered later.
    """
    before = copy.copy(appointment)
    for field, value in previous.items():
        setattr(before, field, value)
    if "place_id" in previous:
        before.place = Place.objects.filter(pk=previous["place_id"]).first() if previous["place_id"] else None
    zone = before.zone
    return {
        "date_changed": "starts_at" in previous,
        "place_changed": bool({"place_id", "location_type", "address", "visio_url"} & set(previous)),
        "date": french_datetime(before.starts_at, zone),
        "short_date": french_short_datetime(before.starts_at, zone),
        "location_type": str(before.get_location_type_display()),
        "address": str(before.address_line()),
        "duration": before.duration_minutes,
    }


def context_for(notification, appointment):
    motif, service, organisation = appointment.motif, appointment.motif.service, appointment.organisation
    zone = appointment.zone
    contact = notification.contact
    return {
        "event": notification.event,
        "brand": organisation.brand_label,
        "organisation": organisation.name,
        "service": service.name,
        "motif": motif.name,
        "date": french_datetime(appointment.starts_at, zone),
        "short_date": french_short_datetime(appointment.starts_at, zone),
        "location_type": str(appointment.get_location_type_display()),
        "address": str(appointment.address_line()),
        "duration": appointment.duration_minutes,
        "instructions": motif.instructions,
        "link": appointment.link_url(),
        "contact": contact,
        "previous": notification.previous or {},
        "cancellation_reason": appointment.cancellation_reason,
    }


# --- SMS ---------------------------------------------------------------------------------

def sms_variants(service):
    """From the richest text to the leanest: the service's name, its short name, none;
    the replaced date written out, then short. Date, time and link always stay."""
    names = [*dict.fromkeys(name for name in (service.name, service.short_name) if name), ""]
    for name in names:
        yield {"service_label": name, "old_date_style": "long"}
    yield {"service_label": "", "old_date_style": "short"}


def render_sms(notification, appointment):
    """(text, segments): the first variant that fits one GSM-7 segment, transliterated."""
    with translation.override("fr"):
        context = context_for(notification, appointment)
        text = ""
        for variant in sms_variants(appointment.motif.service):
            text = gsm.transliterate(" ".join(render_to_string(
                SMS_TEMPLATE.format(event=notification.event), {**context, **variant}
            ).split()))
            if gsm.fits_one_segment(text):
                break
    return text, gsm.segment_count(text)


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
