"""Booking from the agenda, rescheduling onto a free slot, and the rules that refuse an unusual
start until the agent confirms it, saying what will and won't be sent."""

import html
import re
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlparse
from zoneinfo import ZoneInfo

import pytest

from appointments.models import Appointment, AppointmentStatus
from notifications.models import Notification

from .factories import appointment_form, user

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=PARIS)  # a Monday morning; the tests name calendar days
pytestmark = [pytest.mark.time_machine(NOW, tick=False), pytest.mark.usefixtures("opening_hours_since_2026")]

AGENDA = "/admin/appointments/appointment/agenda/"
ADD = "/admin/appointments/appointment/add/"


def text_of(response):
    return html.unescape(response.content.decode())


def selected(page, name):
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
    return re.findall(r'<option value="([^"]+)" selected>', select)


def test_a_free_slot_opens_the_form_filled_in_and_booking_returns_to_the_agenda(camille_client, demo):
    agenda = text_of(camille_client.get(AGENDA))
    href = re.search(r'<a href="([^"]+)" aria-label="Réserver le mardi 8 décembre 2026 à 9h20 avec Julien Bernard"',
                     agenda).group(1)
    form = text_of(camille_client.get(href))
    assert selected(form, "motif") == [str(demo.cni.pk)]
    assert selected(form, "place") == [str(demo.lyon_place.pk)]
    assert selected(form, "assigned_agents") == [str(demo.julien.pk)]
    assert 'name="date" value="2026-12-08"' in form and 'name="time" value="09:20"' in form

    contact = demo.contact()
    data = appointment_form(demo, contact, day=datetime(2026, 12, 8).date(), time="09:20",
                            assigned_agents=[demo.julien.pk])
    response = camille_client.post(href, data)  # the form posts to its own URL, "retour=agenda" included
    assert response.status_code == 302, text_of(response)[:3000]
    target = urlparse(response["Location"])
    assert target.path == AGENDA and f"agent={demo.julien.pk}" in target.query and "date=2026-12-08" in target.query
    appointment = Appointment.objects.get()
    assert appointment.local_starts_at == datetime(2026, 12, 8, 9, 20, tzinfo=PARIS)
    assert list(appointment.agents.all()) == [demo.julien]
    agenda = text_of(camille_client.get(response["Location"]))
    assert f"/admin/appointments/appointment/{appointment.pk}/change/" in agenda
    assert "Réserver le mardi 8 décembre 2026 à 9h20 avec Julien Bernard" not in agenda


def test_the_appointment_page_offers_the_next_free_slots_and_moving_onto_one(camille_client, demo):
    appointment = demo.book(starts_at=datetime(2026, 12, 7, 9, 0, tzinfo=PARIS))
    url = f"/admin/appointments/appointment/{appointment.pk}/change/"
    page = text_of(camille_client.get(url))
    assert "Déplacer sur un créneau libre" in page
    offered = re.findall(r'<a class="button" href="\?date=([\d-]+)&time=([\d:]+)">([^<]+)</a>', page)
    # Camille's next free slots: 9h00 is this appointment itself.
    assert offered[0] == ("2026-12-07", "09:20", "lundi 7 décembre 2026 à 9h20")
    assert len(offered) == 10
    # Its notifications and their statuses are on the page too.
    assert "notifications envoyées" in page.lower() and "à envoyer" in page

    page = text_of(camille_client.get(url, {"date": "2026-12-07", "time": "11:00"}))
    assert 'name="time" value="11:00"' in page and "Nouveau créneau choisi" in page
    data = appointment_form(demo, appointment.contacts.get(), day=datetime(2026, 12, 7).date(), time="11:00")
    assert camille_client.post(url, data).status_code == 302
    appointment.refresh_from_db()
    assert appointment.local_starts_at.hour == 11 and appointment.sequence == 1


@pytest.mark.parametrize("day, time, expected", [
    ("2026-11-30", "10:00", "Le lundi 30 novembre 2026 à 10h00 est passé : aucun message ne sera envoyé pour ce "
                            "rendez-vous, ni à l'usager ni aux agents (ni confirmation, ni rappel)."),
    ("2026-12-13", "22:00", "Le dimanche 13 décembre 2026 à 22h00 est en dehors des plages d'ouverture de Camille "
                            "Martin à Mairie du 3e. L'usager recevra quand même la confirmation, puis un rappel 48 "
                            "heures avant le rendez-vous (le 11/12 à 20h30 : pas de SMS la nuit)."),
    ("2026-12-07", "18:00", "Le lundi 7 décembre 2026 à 18h00 est en dehors des plages d'ouverture de Camille Martin "
                            "à Mairie du 3e. L'usager recevra quand même la confirmation, mais aucun rappel : le "
                            "rendez-vous commence dans moins de 48 heures."),
    ("2031-12-08", "10:00", "Le lundi 8 décembre 2031 à 10h00 est dans plus d'un an : vérifiez l'année."),
])
def test_an_unusual_start_needs_an_explicit_confirmation(camille_client, demo, day, time, expected):
    contact = demo.contact()
    data = appointment_form(demo, contact, day=datetime.fromisoformat(day).date(), time=time)
    response = camille_client.post(ADD, data)
    page = text_of(response)
    assert response.status_code == 200 and not Appointment.objects.exists()
    assert expected in page
    assert '<input type="checkbox" name="confirm_unusual"' in page
    assert "Je confirme cette date et cette heure malgré l'avertissement" in page

    response = camille_client.post(ADD, {**data, "confirm_unusual": "on"}, follow=True)
    page = text_of(response)
    assert Appointment.objects.count() == 1
    assert re.search(r'class="warning">' + re.escape(expected), page), "said again once booked"


def test_a_confirmed_past_booking_sends_nothing_and_says_so(camille_client, demo):
    contact = demo.contact()
    data = appointment_form(demo, contact, day=datetime(2026, 11, 30).date(), confirm_unusual="on")
    page = text_of(camille_client.post(ADD, data, follow=True))
    appointment = Appointment.objects.get()
    assert not Notification.objects.filter(appointment=appointment).exists()
    assert "Le rendez-vous a déjà commencé : aucun message n'est envoyé" in page
    assert "Léa Dupont recevra" not in page  # never promise what will not happen


def test_a_start_a_little_earlier_today_is_taken_without_confirmation(camille_client, demo, time_machine):
    time_machine.move_to(datetime(2026, 12, 7, 10, 30, tzinfo=PARIS), tick=False)
    contact = demo.contact()
    response = camille_client.post(ADD, appointment_form(demo, contact, day=datetime(2026, 12, 7).date(), time="09:00"),
                                   follow=True)
    assert Appointment.objects.count() == 1
    assert "Le rendez-vous a déjà commencé : aucun message n'est envoyé" in text_of(response)


def test_editing_something_else_than_the_time_asks_nothing(camille_client, demo, time_machine):
    appointment = demo.book(starts_at=datetime(2026, 12, 8, 9, 0, tzinfo=PARIS))
    time_machine.move_to(datetime(2026, 12, 10, 9, 0, tzinfo=PARIS), tick=False)  # it is now two days old
    camille_client.force_login(user("camille.martin"))  # a new working day, a new login
    data = appointment_form(demo, appointment.contacts.get(), day=datetime(2026, 12, 8).date(), time="09:00",
                            status=AppointmentStatus.DONE)
    response = camille_client.post(f"/admin/appointments/appointment/{appointment.pk}/change/", data)
    assert response.status_code == 302 and "login" not in response["Location"], text_of(response)[:2000]
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.DONE


def opened_from_the_week(client, appointment, week_day):
    """The appointment's link in the agenda's week of `week_day`, and the week's own URL."""
    agenda = text_of(client.get(AGENDA, {"date": week_day.isoformat()}))
    href = re.search(rf'href="(/admin/appointments/appointment/{appointment.pk}/change/\?[^"]+)"', agenda).group(1)
    return href, parse_qs(urlparse(href).query)["next"][0]


def test_cancelling_from_the_agenda_returns_to_its_week(camille_client, demo):
    appointment = demo.book(starts_at=datetime(2026, 12, 15, 9, 0, tzinfo=PARIS))  # next week, not today's
    href, week = opened_from_the_week(camille_client, appointment, datetime(2026, 12, 16).date())
    assert urlparse(week).path == AGENDA and "date=2026-12-16" in week and f"agent={demo.camille.pk}" in week
    data = appointment_form(demo, appointment.contacts.get(), day=datetime(2026, 12, 15).date(), time="09:00",
                            status=AppointmentStatus.CANCELLED_BY_AGENT, cancellation_reason="Agent en congé")
    response = camille_client.post(href, data)  # the form posts to its own URL, "next" included
    assert response.status_code == 302 and response["Location"] == week
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED_BY_AGENT
    assert "Semaine du lundi 14 décembre 2026" in text_of(camille_client.get(week))


def test_rescheduling_from_the_agenda_keeps_the_way_back_through_the_free_slot_links(camille_client, demo):
    appointment = demo.book(starts_at=datetime(2026, 12, 15, 9, 0, tzinfo=PARIS))
    href, week = opened_from_the_week(camille_client, appointment, datetime(2026, 12, 15).date())
    page = text_of(camille_client.get(href))
    offered = re.findall(r'<ul class="reschedule-slots">.*?</ul>', page, re.S)[0]
    links = [parse_qs(urlparse(h).query) for h in re.findall(r'href="([^"]+)"', offered)]
    assert links and all(link["next"] == [week] for link in links)
    first = links[0]
    moving = f"/admin/appointments/appointment/{appointment.pk}/change/?" + urlencode(
        {k: v[0] for k, v in first.items()})
    data = appointment_form(demo, appointment.contacts.get(), day=datetime.fromisoformat(first["date"][0]).date(),
                            time=first["time"][0])
    response = camille_client.post(moving, data)
    assert response.status_code == 302 and response["Location"] == week
    appointment.refresh_from_db()
    assert appointment.sequence == 1 and appointment.local_starts_at.strftime("%H:%M") == first["time"][0]

    # "Enregistrer et continuer" stays on the appointment, still knowing the way back.
    response = camille_client.post(href, {**data, "duration_minutes": "30", "_continue": "1"})
    assert response.status_code == 302
    assert parse_qs(urlparse(response["Location"]).query) == {"next": [week]}


@pytest.mark.parametrize("hostile", [
    "https://attaquant.example/agenda/", "//attaquant.example/agenda/", "/\\attaquant.example/",
    "javascript:alert(1)", "http://testserver.attaquant.example/",
])
def test_a_return_address_elsewhere_is_never_followed(camille_client, demo, hostile):
    appointment = demo.book(starts_at=datetime(2026, 12, 15, 9, 0, tzinfo=PARIS))
    url = f"/admin/appointments/appointment/{appointment.pk}/change/?" + urlencode({"next": hostile})
    page = text_of(camille_client.get(url))
    assert "attaquant" not in page and "javascript:alert" not in page  # not even in the free slots' links
    data = appointment_form(demo, appointment.contacts.get(), day=datetime(2026, 12, 15).date(), time="09:00",
                            status=AppointmentStatus.CANCELLED_BY_AGENT, cancellation_reason="Agent en congé")
    response = camille_client.post(url, data)
    assert response.status_code == 302 and response["Location"] == "/admin/appointments/appointment/"
