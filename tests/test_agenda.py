"""The agents' agenda: a day or a week per agent in the place's local time, appointments and
free slots, colleagues side by side, navigation, marks about citizens' messages, and a
constant number of queries."""

import html
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from appointments import services
from appointments.models import Appointment, BookedBy, Contact
from notifications.models import Notification, Status

from .factories import user

PARIS = ZoneInfo("Europe/Paris")
GUADELOUPE = ZoneInfo("America/Guadeloupe")
# A Monday morning in Paris: the tests read calendar days and hours word for word.
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=PARIS)
MONDAY = NOW.date()
pytestmark = [pytest.mark.time_machine(NOW, tick=False), pytest.mark.usefixtures("opening_hours_since_2026")]

AGENDA = "/admin/appointments/appointment/agenda/"


def page(response):
    assert response.status_code == 200, response.content.decode()[:2000]
    return html.unescape(response.content.decode())


def columns(text):
    table = text[text.index('<table class="agenda-table'):]
    return re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', table[:table.index("</thead>")])


def free_links(text):
    """The booking links of the free slots, as (aria-label, query parameters)."""
    return [(label, parse_qs(urlparse(href).query))
            for href, label in re.findall(r'<li class="agenda-free"><a href="([^"]+)" aria-label="([^"]+)"', text)]


def test_the_week_shows_appointments_and_free_slots_of_the_agent_and_colleagues(camille_client, demo):
    contact = demo.contact(first_name="Léa", last_name="Dupont")
    booked = demo.book(starts_at=datetime(2026, 12, 8, 10, 0, tzinfo=PARIS), contacts=[contact])
    text = page(camille_client.get(AGENDA, {"date": "2026-12-09"}))

    assert "Semaine du lundi 7 décembre 2026 au dimanche 13 décembre 2026" in text
    assert columns(text) == ["Jour", "Camille Martin", "Julien Bernard"]  # the colleague beside her
    # Monday to Friday; the empty weekend is left out.
    assert "vendredi 11 décembre 2026" in text and "samedi 12 décembre 2026" not in text
    # The appointment: local time, citizen, motif, type and status, opening its page.
    assert f'href="/admin/appointments/appointment/{booked.pk}/change/?next=' in text  # and back to this week
    block = text[text.index(f"/appointment/{booked.pk}/change/"):]
    block = block[:block.index("</li>")]
    for expected in ("10h00–10h20", "Léa Dupont", "Demande ou renouvellement", "sur place", "confirmé"):
        assert expected in block

    slots = free_links(text)
    labels = [label for label, _ in slots]
    # Free slots from the same computation as the public pages: 9h in steps of 20 minutes.
    assert "Réserver le mardi 8 décembre 2026 à 9h00 avec Camille Martin" in labels
    assert "Réserver le mardi 8 décembre 2026 à 10h00 avec Camille Martin" not in labels  # booked
    assert "Réserver le mardi 8 décembre 2026 à 10h00 avec Julien Bernard" in labels  # he is free
    assert "Réserver le lundi 7 décembre 2026 à 9h00 avec Camille Martin" in labels
    [params] = [p for label, p in slots if label == "Réserver le mardi 8 décembre 2026 à 9h00 avec Camille Martin"]
    assert params == {"motif": [str(demo.cni.pk)], "assigned_agents": [str(demo.camille.pk)], "date": ["2026-12-08"],
                      "time": ["09:00"], "place": [str(demo.lyon_place.pk)], "retour": ["agenda"]}


def test_slots_already_past_are_not_offered(camille_client, demo, time_machine):
    time_machine.move_to(datetime(2026, 12, 7, 10, 5, tzinfo=PARIS), tick=False)
    labels = [label for label, _ in free_links(page(camille_client.get(AGENDA, {"vue": "jour"})))]
    assert "Réserver le lundi 7 décembre 2026 à 10h00 avec Camille Martin" not in labels
    # At least BOOKING_MIN_LEAD_MINUTES (30) ahead, as on the public pages.
    assert labels[0] == "Réserver le lundi 7 décembre 2026 à 10h40 avec Camille Martin"


def test_colleagues_can_be_switched_off(camille_client, demo):
    text = page(camille_client.get(AGENDA, {"choix": "1"}))  # the form sent with no colleague ticked
    assert columns(text) == ["Jour", "Camille Martin"]
    text = page(camille_client.get(AGENDA, {"choix": "1", "avec": demo.julien.pk}))
    assert columns(text) == ["Jour", "Camille Martin", "Julien Bernard"]
    # Julien's own agenda, Camille beside him.
    text = page(camille_client.get(AGENDA, {"agent": demo.julien.pk}))
    assert columns(text) == ["Jour", "Julien Bernard", "Camille Martin"]


def nav_links(text):
    """{label: query parameters} of the previous / today / next buttons."""
    return {label.strip(): parse_qs(query)
            for query, label in re.findall(r'<a class="button" href="\?([^"]+)"[^>]*>([^<]+)</a>', text)}


def test_day_view_and_navigation(camille_client, demo):
    text = page(camille_client.get(AGENDA, {"vue": "jour", "date": "2026-12-08"}))
    assert "<h2 class=\"agenda-heading\">mardi 8 décembre 2026</h2>" in text
    assert "lundi 7 décembre" not in text.split("agenda-table")[1]
    by_label = nav_links(text)
    assert by_label["‹ Jour précédent"]["date"] == ["2026-12-07"]
    assert by_label["Jour suivant ›"]["date"] == ["2026-12-09"]
    assert by_label["Aujourd’hui"]["date"] == ["2026-12-07"]
    # The week: previous and next weeks start on Mondays.
    text = page(camille_client.get(AGENDA, {"date": "2026-12-09"}))
    by_label = nav_links(text)
    assert by_label["‹ Semaine précédente"]["date"] == ["2026-11-30"]
    assert by_label["Semaine suivante ›"]["date"] == ["2026-12-14"]
    # The date picker is a plain GET form: any date, no JavaScript needed.
    assert '<input id="agenda-date" type="date" name="date" value="2026-12-09">' in text
    assert page(camille_client.get(AGENDA, {"date": "n'importe quoi"}))  # a bad date shows today


def test_an_overseas_agenda_is_in_the_place_time_zone(client, demo):
    client.force_login(user("marie.lancelot"))
    text = page(client.get(AGENDA, {"vue": "jour", "date": "2026-12-08"}))
    assert "America/Guadeloupe" in text
    labels = [label for label, _ in free_links(text)]
    assert labels[0] == "Réserver le mardi 8 décembre 2026 à 9h00 avec Marie Lancelot"
    motif = demo.guadeloupe.motifs.get()
    booked = demo.book(motif=motif, agents=[demo.marie], starts_at=datetime(2026, 12, 8, 15, 0, tzinfo=GUADELOUPE),
                       contacts=[demo.contact(demo.guadeloupe, agent=demo.marie)])
    text = page(client.get(AGENDA, {"vue": "jour", "date": "2026-12-08"}))
    block = text[text.index(f"/appointment/{booked.pk}/change/"):]
    assert "15h00–15h15" in block[:block.index("</li>")]  # 20h00 in Paris


def test_an_agent_sees_no_other_organisations_agenda(camille_client, demo):
    text = page(camille_client.get(AGENDA, {"agent": demo.sophie.pk}))
    assert "Sophie" not in text and columns(text)[1] == "Camille Martin"
    assert "Sophie Lefebvre" not in text  # not even in the agent picker


def test_marks_when_a_message_failed_or_the_citizen_receives_nothing(camille_client, demo):
    told = demo.book(starts_at=datetime(2026, 12, 8, 9, 0, tzinfo=PARIS),
                     contacts=[demo.contact(first_name="Noé", last_name="Petit")])
    silent_contact = demo.contact(first_name="Jade", last_name="Roux", phone="+33140000000", email="", sms=False,
                                  email_consent=False)
    silent = demo.book(starts_at=datetime(2026, 12, 8, 11, 0, tzinfo=PARIS), contacts=[silent_contact])

    def block(text, appointment):
        found = text[text.index(f"/appointment/{appointment.pk}/change/"):]
        return found[:found.index("</li>")]

    text = page(camille_client.get(AGENDA))
    assert "⚠" not in block(text, told)
    assert "ne reçoit rien" in block(text, silent) and "Jade Roux ne recevra aucun message" in block(text, silent)

    sms = Notification.objects.get(appointment=told, contact__isnull=False, channel="sms", event="confirmation")
    Notification.objects.filter(pk=sms.pk).update(status=Status.FAILED, error_code="30003")
    assert "envoi en échec" in block(page(camille_client.get(AGENDA)), told)
    # A resend that went through clears the mark.
    Notification.objects.create(appointment=told, contact=sms.contact, event=sms.event, channel=sms.channel,
                                sequence=sms.sequence, resend=1, to=sms.to, status=Status.DELIVERED)
    assert "⚠" not in block(page(camille_client.get(AGENDA)), told)


def test_cancelled_appointments_show_and_free_their_slot(camille_client, demo):
    appointment = demo.book(starts_at=datetime(2026, 12, 8, 9, 0, tzinfo=PARIS))
    services.cancel(appointment, actor=BookedBy.CITIZEN)
    text = page(camille_client.get(AGENDA))
    assert "annulé par l'usager" in text
    labels = [label for label, _ in free_links(text)]
    assert "Réserver le mardi 8 décembre 2026 à 9h00 avec Camille Martin" in labels


def _fill_week(demo, count):
    """`count` appointments of Camille and Julien in the week of MONDAY, one contact each."""
    made = 0
    for day in range(5):
        for minutes in range(0, 8 * 60, 20):
            for agent in (demo.camille, demo.julien):
                if made == count:
                    return
                starts_at = datetime(2026, 12, 7 + day, 9, 0, tzinfo=PARIS) + timedelta(minutes=minutes)
                contact = Contact.objects.create(organisation=demo.lyon, first_name="Usager", last_name=str(made),
                                                 email=f"u{made}@exemple.fr")
                services.book(motif=demo.cni, place=demo.lyon_place, starts_at=starts_at, agents=[agent],
                              contacts=[contact], booked_by=BookedBy.AGENT)
                made += 1


def test_the_week_runs_a_constant_number_of_queries(camille_client, demo, django_assert_max_num_queries):
    _fill_week(demo, 4)
    camille_client.get(AGENDA)  # the session and the first-request caches
    with CaptureQueriesContext(connection) as few:
        page(camille_client.get(AGENDA))
    Appointment.objects.all().delete()
    _fill_week(demo, 200)
    assert Appointment.objects.count() == 200
    with django_assert_max_num_queries(len(few)) as many:
        text = page(camille_client.get(AGENDA))
    assert text.count('class="agenda-rdv') == 200
    print(f"agenda week: {len(few)} queries with 4 appointments, {len(many)} with 200")
    assert len(many) == len(few)
