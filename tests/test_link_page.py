"""The appointment link page ("lien utile"): token rules, initials first, cancelling."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from appointments import services, signals
from appointments.models import LINK_PREFIX, AppointmentStatus, BookedBy

from .public_pages import text


@pytest.fixture
def appointment(demo):
    contact = demo.contact(first_name="Élodie", last_name="Le Goff")
    return demo.book(contacts=[contact])


@pytest.fixture
def cancellations():
    received = []

    def receiver(sender, appointment, actor, **kwargs):
        received.append((appointment.pk, actor))

    signals.appointment_cancelled.connect(receiver)
    yield received
    signals.appointment_cancelled.disconnect(receiver)


def url(appointment):
    return f"{LINK_PREFIX}{appointment.token}"


def verify(client, appointment, first="E", last="L"):
    return client.post(url(appointment), {"first_initial": first, "last_initial": last})


def test_the_link_in_messages_opens_this_page(appointment, client):
    assert appointment.link_url() == f"https://rdv.example.fr/r/{appointment.token}"
    assert client.get(url(appointment)).status_code == 200


def test_before_the_initials_only_the_date_and_the_kind_are_shown(appointment, client):
    page = text(client.get(url(appointment)))
    local = appointment.local_starts_at
    assert f"à {local.hour}h{local:%M}" in page and "Sur place" in page
    for hidden in (appointment.motif.name, "Titres d'identité", "215 rue Duguesclin", "Apportez", "Élodie", "Le Goff"):
        assert hidden not in page, hidden
    assert "Annuler ce rendez-vous" not in page
    # Cancelling is not possible either.
    assert client.get(url(appointment) + "/annuler").status_code == 302
    client.post(url(appointment) + "/annuler")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED


def test_wrong_initials_show_nothing_more(appointment, client):
    response = verify(client, appointment, "L", "E")
    page = text(response)
    assert "Ces initiales ne correspondent pas" in page
    assert appointment.motif.name not in page
    assert text(client.get(url(appointment))).count(appointment.motif.name) == 0


@pytest.mark.parametrize("first, last", [("E", "L"), ("é", "l"), ("e", "L")])
def test_right_initials_show_the_appointment(appointment, client, first, last):
    response = verify(client, appointment, first, last)
    assert response.status_code == 302 and response.url == url(appointment)
    page = text(client.get(url(appointment)))
    for shown in (appointment.motif.name, "Titres d'identité", "Mairie du 3e, 215 rue Duguesclin", "20 minutes",
                  "Apportez votre pré-demande ANTS", "Annuler ce rendez-vous"):
        assert shown in page, shown


def test_confirmed_initials_unlock_that_appointment_only(demo, appointment, client):
    other = demo.book(hour=11, contacts=[demo.contact(first_name="Élodie", last_name="Le Goff")])
    verify(client, appointment)
    assert "Annuler ce rendez-vous" in text(client.get(url(appointment)))
    assert "Annuler ce rendez-vous" not in text(client.get(url(other)))
    # And not for another browser.
    assert "Annuler ce rendez-vous" not in text(Client().get(url(appointment)))


def test_the_citizen_cancels_after_confirming(appointment, client, cancellations):
    verify(client, appointment)
    confirm_page = client.get(url(appointment) + "/annuler")
    assert "Voulez-vous vraiment annuler ce rendez-vous" in text(confirm_page)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED  # showing the question cancels nothing

    response = client.post(url(appointment) + "/annuler")
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED_BY_CITIZEN
    assert cancellations == [(appointment.pk, BookedBy.CITIZEN)]
    assert "Votre rendez-vous est annulé" in text(client.get(url(appointment)))


def test_cancelling_twice_is_refused_and_notifies_once(appointment, client, cancellations):
    verify(client, appointment)
    client.post(url(appointment) + "/annuler")
    second = client.post(url(appointment) + "/annuler")
    assert second.status_code == 409
    assert "Ce rendez-vous n'est plus confirmé" in text(second)
    assert "Ce rendez-vous est déjà annulé" in text(client.get(url(appointment) + "/annuler"))
    assert len(cancellations) == 1


def test_an_appointment_cancelled_by_the_agent_cannot_be_cancelled_again(appointment, client, cancellations):
    services.cancel(appointment, actor=BookedBy.AGENT)
    verify(client, appointment)
    page = text(client.get(url(appointment)))
    assert "Ce rendez-vous a été annulé" in page and "Annuler ce rendez-vous" not in page
    assert client.post(url(appointment) + "/annuler").status_code == 409
    assert len(cancellations) == 1


def test_a_past_appointment_cannot_be_cancelled(appointment, client, cancellations):
    with time_machine.travel(appointment.starts_at + timedelta(hours=2), tick=False):
        # Citizens' sessions are short (PUBLIC_SESSION_AGE): the initials are given again.
        verify(client, appointment)
        page = text(client.get(url(appointment)))
        assert "Ce rendez-vous est passé" in page and "Annuler ce rendez-vous" not in page
        response = client.post(url(appointment) + "/annuler")
    assert response.status_code == 409
    assert "Ce rendez-vous est passé : il ne peut plus être annulé." in text(response)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert cancellations == []


def test_unknown_and_tampered_tokens_are_plain_404(appointment, client):
    token = appointment.token
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (tampered, "x" * 11, token + "x", "%3Cscript%3E", "a" * 200, token.upper() if token.upper() != token else token.lower()):
        response = client.get(f"/r/{bad}")
        assert response.status_code == 404, bad
        assert "Page introuvable" in text(response)
        assert appointment.motif.name not in text(response) and "Duguesclin" not in text(response)
    assert client.post(f"/r/{tampered}", {"first_initial": "E", "last_initial": "L"}).status_code == 404


def test_tokens_stop_working_some_days_after_the_appointment(appointment, client, settings):
    settings.LINK_VALID_DAYS_AFTER = 30
    with time_machine.travel(appointment.ends_at + timedelta(days=29), tick=False):
        assert client.get(url(appointment)).status_code == 200
    with time_machine.travel(appointment.ends_at + timedelta(days=30, minutes=1), tick=False):
        assert client.get(url(appointment)).status_code == 404


def test_link_pages_are_never_stored_by_shared_caches(appointment, client):
    verify(client, appointment)
    for page in (url(appointment), url(appointment) + "/annuler"):
        response = client.get(page)
        assert response["Cache-Control"] in ("private, no-store", "no-store, private")
        assert response["Referrer-Policy"] == "same-origin"


def test_the_initials_form_is_rate_limited_per_token_and_address(appointment, client, settings):
    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "initials_token": (3, 900)}
    stranger = Client(REMOTE_ADDR="10.0.2.1")
    for _ in range(3):
        assert verify(stranger, appointment, "Z", "Z").status_code == 200
    # The guesser waits, even with the right initials ...
    response = verify(stranger, appointment)
    assert response.status_code == 429
    assert "Trop de tentatives" in text(response)
    # ... the owner, elsewhere, is not locked out of their own link (tests/test_abuse_sessions.py).
    assert verify(Client(REMOTE_ADDR="10.0.2.9"), appointment).status_code == 302


def test_the_initials_form_is_rate_limited_per_address(demo, client, settings):
    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "initials_ip": (2, 900)}
    appointments = [demo.book(hour=h) for h in (9, 10, 11)]
    assert verify(client, appointments[0], "Z", "Z").status_code == 200
    assert verify(client, appointments[1], "Z", "Z").status_code == 200
    assert verify(client, appointments[2], "Z", "Z").status_code == 429


def test_cancelling_is_rate_limited_per_address(demo, client, settings):
    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "cancel_ip": (1, 3600)}
    first, second = demo.book(hour=9), demo.book(hour=11)
    for appointment in (first, second):
        verify(client, appointment, "L", "D")  # the demo contact: Léa Dupont
    assert client.post(url(first) + "/annuler").status_code == 302
    response = client.post(url(second) + "/annuler")
    assert response.status_code == 429
    second.refresh_from_db()
    assert second.status == AppointmentStatus.CONFIRMED


def test_the_link_page_escapes_what_it_shows(demo, client):
    evil = "<script>alert(1)</script>"
    demo.cni.instructions = evil
    demo.cni.save()
    appointment = demo.book(contacts=[demo.contact(first_name="<b>", last_name="<i>")])
    assert "Indiquez une lettre" in text(verify(client, appointment, "<", "<"))
    verify(client, appointment, "B", "I")
    raw = client.get(url(appointment)).content.decode()
    assert "Annuler ce rendez-vous" in raw
    assert evil not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
