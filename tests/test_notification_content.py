"""What citizens and agents read: French dates in the place's zone, every SMS in one GSM-7
segment, emails with every field the seed lists, and calendar invitations that update."""

from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import translation
from icalendar import Calendar

from appointments import services
from appointments.models import Appointment, LocationType, Motif, Place
from notifications import gsm
from notifications.content import describe_previous, ics, render_email, render_sms
from appointments.dates import french_datetime as long_date, french_short_datetime as short_date
from notifications.models import Event, Notification


PARIS = ZoneInfo("Europe/Paris")
# The longest date a French reader can get: longest weekday, longest month, two-digit day.
LONGEST_DAY = datetime(2026, 9, 30, 12, 30, tzinfo=PARIS)  # "mercredi 30 septembre 2026 à 12h30"
# The messages below are read word for word, dates included: "now" is 1 December 2026, before every
# appointment booked here, whatever day the suite runs on.
pytestmark = pytest.mark.time_machine(datetime(2026, 12, 1, 9, 0, tzinfo=PARIS), tick=True)


# --- dates ------------------------------------------------------------------------------

def test_dates_read_the_french_way_in_the_place_zone():
    moment = datetime(2026, 3, 12, 13, 30, tzinfo=dt_timezone.utc)
    assert long_date(moment, PARIS) == "jeudi 12 mars 2026 à 14h30"
    assert long_date(datetime(2026, 6, 1, 7, 5, tzinfo=dt_timezone.utc), PARIS) == "lundi 1er juin 2026 à 9h05"
    assert long_date(moment, ZoneInfo("America/Guadeloupe")) == "jeudi 12 mars 2026 à 9h30"
    assert long_date(moment, ZoneInfo("Indian/Reunion")) == "jeudi 12 mars 2026 à 17h30"
    assert short_date(moment, PARIS) == "12/03 à 14h30"


def test_dates_are_french_whatever_language_is_active(demo):
    from notifications.content import describe_previous

    appointment = demo.book(starts_at=datetime(2027, 3, 9, 10, 0, tzinfo=PARIS))
    with translation.override("en"):
        previous = describe_previous(appointment, {"starts_at": datetime(2027, 3, 8, 13, 30, tzinfo=PARIS)})
    assert previous["date"] == "lundi 8 mars 2027 à 13h30"


def test_dates_follow_daylight_saving_time():
    # 9:00 in Paris is 8:00 UTC in winter and 7:00 UTC in summer (change on 29 March 2026).
    assert long_date(datetime(2026, 3, 28, 8, 0, tzinfo=dt_timezone.utc), PARIS) == "samedi 28 mars 2026 à 9h00"
    assert long_date(datetime(2026, 3, 30, 7, 0, tzinfo=dt_timezone.utc), PARIS) == "lundi 30 mars 2026 à 9h00"


# --- GSM 03.38 --------------------------------------------------------------------------

def test_french_letters_outside_gsm7_are_transliterated_and_the_others_stay():
    text = gsm.transliterate("À l’hôtel « Préfecture », ça coûte 5 € — Œuvre où élève")
    assert text == "A l'hotel \" Préfecture \", ca coute 5 € - OEuvre où élève"
    assert gsm.is_gsm7(text)


def test_segments_count_septets_and_extended_characters_twice():
    assert gsm.segment_count("a" * 160) == 1
    assert gsm.segment_count("a" * 161) == 2
    assert gsm.segment_count("€" * 80) == 1
    assert gsm.segment_count("€" * 81) == 2
    assert gsm.segment_count("ê" * 70) == 1  # not GSM-7: UCS-2, 70 per segment
    assert gsm.segment_count("ê" * 71) == 2


# --- SMS --------------------------------------------------------------------------------

def notification_for(appointment, event, channel="sms", previous=None):
    contact = appointment.contacts.first()
    return Notification(appointment=appointment, contact=contact, event=event, channel=channel,
                        sequence=appointment.sequence, to="+33612345678", previous=previous or {})


def longest_appointment(demo, motif):
    """The motif booked on the longest date, with a visio/home type where it has one."""
    place = motif.organisation.places.first()
    starts_at = datetime(2026, 9, 30, 12, 30, tzinfo=place.zone)
    appointment = Appointment(motif=motif, place=place, location_type=motif.location_type, starts_at=starts_at,
                              duration_minutes=motif.default_duration_minutes, organisation=motif.organisation, pk=1,
                              token="A" * 11, sequence=3)
    appointment.ends_at = starts_at + timedelta(minutes=motif.default_duration_minutes)
    return appointment


class FixedContacts:
    def __init__(self, contact):
        self.contact = contact

    def first(self):
        return self.contact


@pytest.mark.parametrize("event", [Event.CONFIRMATION, Event.CHANGE, Event.CANCELLATION, Event.REMINDER])
@override_settings(PUBLIC_BASE_URL="https://rdv.service-public.fr")  # a realistic 43-character link
def test_every_demo_sms_fits_one_gsm_segment(demo, event):
    previous = {"date_changed": True, "place_changed": True, "date": "mercredi 23 septembre 2026 à 12h30",
                "compact_date": "mer. 23/09 à 12h30", "short_date": "23/09 à 12h30",
                "location_type": "en visioconférence", "address": "x" * 80}
    checked = 0
    for motif in Motif.objects.select_related("service", "organisation"):
        for location_type in LocationType.values:
            appointment = longest_appointment(demo, motif)
            appointment.location_type = location_type
            notification = Notification(appointment=appointment, event=event, channel="sms", sequence=3,
                                        to="+33612345678", previous=previous)
            text, segments = render_sms(notification, appointment)
            assert segments == 1, f"{len(text)} chars: {text}"
            assert gsm.is_gsm7(text)
            assert appointment.link_url() in text
            assert "mer. 30/09 à 12h30" in text  # the SMS's compact date: weekday, day, month, time
            # The brand is the sender (an alphanumeric id), not the text's first words.
            assert text.startswith(("RDV ", "Rappel : RDV ")) and not text.startswith(motif.organisation.brand_label)
            checked += 1
    assert checked >= 4 * Motif.objects.count()


def test_sms_names_the_service_date_type_and_link_and_comes_from_the_brand(demo, committed, sms_outbox):
    with committed():
        appointment = demo.book(starts_at=datetime(2026, 12, 15, 10, 0, tzinfo=PARIS))
    [sms] = sms_outbox
    assert sms.sender == "RDV S.P."
    assert sms.body == (
        "RDV Titres d'identité confirmé le mar. 15/12 à 10h00, sur place. "
        f"Infos ou annulation : {appointment.link_url()}"
    )
    notification = Notification.objects.get(channel="sms")
    assert notification.segments == 1 and notification.body == sms.body


def test_a_long_service_name_shrinks_to_its_short_name_and_a_legacy_one_disappears(demo):
    service = demo.cni.service
    service.name = "Service des titres d'identité, des passeports et des cartes nationales d'identité"
    service.short_name = "Titres"
    appointment = longest_appointment(demo, demo.cni)
    appointment.motif.service = service
    text, segments = render_sms(Notification(appointment=appointment, event=Event.CONFIRMATION, sequence=3), appointment)
    assert segments == 1 and "RDV Titres confirmé" in text
    # A short name saved before it was checked against the room SMS leave: the last resort
    # drops it rather than send two segments (the admin refuses such a name now).
    service.short_name = "Titres d'identité, passeports et cartes nationales d'identité"
    text, segments = render_sms(Notification(appointment=appointment, event=Event.CONFIRMATION, sequence=3), appointment)
    assert segments == 1 and "RDV confirmé le mer. 30/09 à 12h30" in text


def test_a_change_sms_says_the_old_date_beside_the_new(demo, committed, sms_outbox):
    appointment = demo.book(starts_at=datetime(2026, 12, 15, 10, 0, tzinfo=PARIS))
    with committed():
        services.reschedule(appointment, starts_at=datetime(2026, 12, 17, 14, 30, tzinfo=PARIS))
    [sms] = sms_outbox
    assert sms.body == (
        # Room enough for the service's full name and both compact dates.
        "RDV Titres d'identité déplacé du mar. 15/12 à 10h00 au jeu. 17/12 à 14h30, sur place. "
        f"Infos : {appointment.link_url()}"
    )
    assert gsm.segment_count(sms.body) == 1


# --- Email ------------------------------------------------------------------------------

def test_the_email_holds_every_field_the_seed_lists(demo, committed):
    from django.core import mail

    contact = demo.contact(first_name="Anaïs", last_name="N'Diaye")
    with committed():
        appointment = demo.book(contacts=[contact], starts_at=datetime(2026, 12, 15, 10, 0, tzinfo=PARIS))
    [email] = mail.outbox
    html = email.alternatives[0][0]
    for text in (email.body, html):
        assert "mardi 15 décembre 2026 à 10h00" in text
        assert "Anaïs" in text
        assert "Demande ou renouvellement de carte nationale" in text
        assert "Titres d'identité" in text or "Titres d&#x27;identité" in text
        assert "20 minutes" in text
        assert "215 rue Duguesclin, 69003 Lyon" in text
        assert "Apportez votre pré-demande ANTS" in text
        assert appointment.link_url() in text
    assert "N'Diaye" in email.body and "N&#x27;Diaye" in html
    assert email.from_email == "RDV Service Public <ne-pas-repondre@rdv.example.fr>"
    assert email.subject == "Rendez-vous confirmé le mardi 15 décembre 2026 à 10h00 — Titres d'identité"
    assert email.alternatives[0][1] == "text/html"


def test_names_are_escaped_in_the_html_email(demo, committed):
    from django.core import mail

    contact = demo.contact(first_name="<script>alert(1)</script>", last_name="O'Brien & fils")
    with committed():
        demo.book(contacts=[contact])
    html = mail.outbox[0].alternatives[0][0]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "O&#x27;Brien &amp; fils" in html


def calendar_of(email):
    [part] = email.attachments
    assert part.get_filename() == "rendez-vous.ics"
    return Calendar.from_ical(part.get_payload(decode=True)), part["Content-Type"]


def test_the_ics_keeps_its_uid_grows_its_sequence_and_cancels(demo, committed):
    from django.core import mail

    with committed():
        appointment = demo.book(starts_at=datetime(2026, 12, 15, 10, 0, tzinfo=PARIS))
    with committed():
        services.reschedule(appointment, starts_at=datetime(2026, 12, 16, 10, 0, tzinfo=PARIS))
    with committed():
        services.cancel(appointment, actor="agent", agent=demo.camille)
    calendars = [calendar_of(email) for email in mail.outbox if email.to == ["lea.dupont@exemple.fr"]]
    # Citizens are not invited to answer: PUBLISH, then CANCEL (issue 11, item 5).
    assert [c["METHOD"] for c, _ in calendars] == ["PUBLISH", "PUBLISH", "CANCEL"]
    events = [next(iter(c.walk("VEVENT"))) for c, _ in calendars]
    assert len({str(e["UID"]) for e in events}) == 1
    assert [int(e["SEQUENCE"]) for e in events] == [0, 1, 2]
    assert str(events[2]["STATUS"]) == "CANCELLED"
    assert events[1].decoded("DTSTART") == datetime(2026, 12, 16, 10, 0, tzinfo=PARIS)
    assert "method=CANCEL" in calendars[2][1]


def test_the_ics_start_is_the_instant_of_the_local_time_at_an_overseas_place(demo):
    motif = Motif.objects.get(organisation=demo.guadeloupe)
    appointment = demo.book(motif=motif, contacts=[demo.contact(demo.guadeloupe)],
                            starts_at=datetime(2026, 12, 15, 8, 0, tzinfo=ZoneInfo("America/Guadeloupe")))
    event = next(iter(Calendar.from_ical(ics(appointment)).walk("VEVENT")))
    # Written in UTC (a TZID local time cannot name both occurrences of the repeated autumn hour).
    assert event["DTSTART"].to_ical() == b"20261215T120000Z"
    assert event.decoded("DTSTART") == datetime(2026, 12, 15, 12, 0, tzinfo=dt_timezone.utc)


def test_a_change_email_shows_old_and_new_place(demo, committed):
    from django.core import mail

    other = Place.objects.create(organisation=demo.lyon, name="Annexe Part-Dieu", address="10 rue de Bonnel, 69003 Lyon")
    appointment = demo.book()
    with committed():
        services.reschedule(appointment, place=other, agent=demo.camille)
    [email] = mail.outbox
    assert "Annexe Part-Dieu, 10 rue de Bonnel" in email.body
    assert "au lieu de Mairie du 3e, 215 rue Duguesclin" in email.body


def test_previous_values_are_described_for_the_citizen(demo):
    appointment = demo.book(starts_at=datetime(2026, 12, 15, 10, 0, tzinfo=PARIS))
    previous = describe_previous(appointment, {"starts_at": datetime(2026, 12, 14, 9, 0, tzinfo=PARIS)})
    assert previous["date"] == "lundi 14 décembre 2026 à 9h00"
    assert previous["date_changed"] and not previous["place_changed"]


def test_email_render_is_in_french_even_if_the_worker_speaks_english(demo):
    appointment = demo.book(starts_at=datetime(2026, 12, 15, 10, 0, tzinfo=PARIS))
    notification = notification_for(appointment, Event.REMINDER, channel="email")
    with translation.override("en"):
        message = render_email(notification, appointment)
    assert message.subject.startswith("Rappel : rendez-vous le mardi 15 décembre 2026")
    assert "Type de rendez-vous : sur place" in message.body


@override_settings(PUBLIC_BASE_URL="https://rdv.service-public.fr")
def test_a_change_sms_gives_way_to_the_short_name_then_the_short_old_date(demo):
    motif = Motif.objects.filter(service__organisation__brand="rdv_aide_numerique", location_type="phone").first()
    appointment = longest_appointment(demo, motif)
    previous = {"date_changed": True, "place_changed": False, "date": "mercredi 23 septembre 2026 à 12h30",
                "compact_date": "mer. 23/09 à 12h30", "short_date": "23/09 à 12h30"}
    notification = Notification(appointment=appointment, event=Event.CHANGE, sequence=3, previous=previous)
    text, segments = render_sms(notification, appointment)
    # "Conseillers numériques France Services" with both compact dates is 162 septets.
    assert segments == 1
    assert text == ("RDV Conseillers numériques déplacé du mer. 23/09 à 12h30 au mer. 30/09 à 12h30, "
                    "par téléphone. Infos : https://rdv.service-public.fr/r/AAAAAAAAAAA")
    # A short name as long as the name: short name + short old date.
    motif.service.short_name = motif.service.name
    text, segments = render_sms(notification, appointment)
    assert segments == 1
    assert text == ("RDV Conseillers numériques France Services déplacé du 23/09 à 12h30 au mer. 30/09 à 12h30, "
                    "par téléphone. Infos : https://rdv.service-public.fr/r/AAAAAAAAAAA")
