"""The citizen's page in the admin: what they receive (a warning when nothing), their
appointments past and future, and every message sent to them."""

import html
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appointments import services
from appointments.models import BookedBy
from notifications.models import Notification, Status


PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=PARIS)
pytestmark = [pytest.mark.time_machine(NOW, tick=False), pytest.mark.usefixtures("opening_hours_since_2026")]


def contact_page(client, contact):
    response = client.get(f"/admin/appointments/contact/{contact.pk}/change/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_citizen_page_lists_appointments_past_and_future_and_messages(camille_client, demo, time_machine):
    contact = demo.contact()
    time_machine.move_to(datetime(2026, 11, 2, 7, 0, tzinfo=PARIS), tick=False)
    past = demo.book(starts_at=datetime(2026, 11, 3, 10, 0, tzinfo=PARIS), contacts=[contact])
    time_machine.move_to(NOW, tick=False)
    future = demo.book(starts_at=datetime(2026, 12, 15, 14, 30, tzinfo=PARIS), contacts=[contact])
    services.cancel(future, actor=BookedBy.CITIZEN)
    Notification.objects.filter(appointment=past, channel="sms").update(status=Status.FAILED, error_code="30003")

    page = contact_page(camille_client, contact)
    upcoming, passed = page.split("<h3>À venir</h3>")[1].split("<h3>Passés</h3>")
    assert "mardi 15 décembre 2026 à 14h30" in upcoming and "annulé par l'usager" in upcoming
    assert "mardi 3 novembre 2026 à 10h00" in passed and "mardi 15 décembre" not in passed
    assert f"/admin/appointments/appointment/{future.pk}/change/" in upcoming
    # The notification history: every message, its status and error code.
    assert "Historique des notifications" in page
    history = page.split("Historique des notifications")[1]
    assert history.count("annulation") >= 2  # the SMS and the email of the cancellation
    assert "échec" in history and "30003" in history
    assert "Léa Dupont reçoit les messages de ses rendez-vous par SMS au 06 12 34 56 78 et par e-mail" in page


def test_a_citizen_who_can_receive_nothing_is_pointed_out(camille_client, demo):
    contact = demo.contact(first_name="Zoé", last_name="Martin", phone="+33142764040", email="", sms=False,
                           email_consent=False)
    page = contact_page(camille_client, contact)
    sentence = ("Zoé Martin ne reçoit aucun message (ni SMS, ni e-mail) (pas de SMS : le 01 42 76 40 40 n'est pas un "
                "numéro de mobile français) : prévenez-le vous-même de ses rendez-vous.")
    assert f'<li class="warning">{sentence}</li>' in page  # at the top of the page
    assert f'<strong class="reach-warning">⚠ {sentence}</strong>' in page
    assert "Aucun rendez-vous à venir." in page and "Aucun rendez-vous passé." in page


def test_the_citizen_page_still_saves(camille_client, demo):
    contact = demo.contact()
    response = camille_client.post(f"/admin/appointments/contact/{contact.pk}/change/", {
        "first_name": "Léa", "last_name": "Dupont-Martin", "phone": "06 12 34 56 78", "email": "lea.dupont@exemple.fr",
        "address": "", "consent_records-TOTAL_FORMS": "0", "consent_records-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    contact.refresh_from_db()
    assert contact.last_name == "Dupont-Martin" and contact.sms_consent and contact.email_consent
