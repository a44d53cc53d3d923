"""Shared computers and sessions (issue 10, item 6): a new session key when initials unlock a
link, the confirmation shown once, short citizens' sessions, and per (link, address) limits so
that a stranger cannot lock the owner out."""

from datetime import timedelta

import time_machine
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from appointments.models import LINK_PREFIX, Appointment

from .public_pages import book, first_slot_url, text

COOKIE = django_settings.SESSION_COOKIE_NAME


def verify(client, appointment, first="E", last="L", **meta):
    return client.post(f"{LINK_PREFIX}{appointment.token}", {"first_initial": first, "last_initial": last}, **meta)


def owner_appointment(demo):
    return demo.book(contacts=[demo.contact(first_name="Élodie", last_name="Le Goff")])


def unlocked(client, appointment):
    return "Annuler ce rendez-vous" in text(client.get(f"{LINK_PREFIX}{appointment.token}"))


def test_the_session_key_changes_when_the_initials_unlock_the_link(demo):
    appointment = owner_appointment(demo)
    # An attacker gets a session, and plants its key in the victim's browser (fixation).
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session["seen"] = True
    session.create()
    key = session.session_key
    planted = Client()
    planted.cookies[COOKIE] = key
    victim = Client()
    victim.cookies[COOKIE] = key
    assert verify(victim, appointment).status_code == 302
    assert victim.cookies[COOKIE].value != key
    assert unlocked(victim, appointment)
    # The planted key unlocks nothing.
    assert not unlocked(planted, appointment)


def test_the_confirmation_is_shown_once_then_the_next_person_sees_the_booking_page(demo, client):
    response = book(client, first_slot_url(client, demo.cni, demo.lyon_place))
    assert response.status_code == 302 and response.url == "/reserver/confirmation/"
    first = client.get(response.url)
    assert first.status_code == 200 and "Rendez-vous confirmé" in text(first)
    token = Appointment.objects.get().token
    assert token in text(first)
    again = client.get("/reserver/confirmation/")
    assert again.status_code == 302 and again.url == "/"
    assert token not in text(client.get("/", follow=True))


def test_booking_gives_a_new_session_key(demo, client):
    client.get(first_slot_url(client, demo.cni, demo.lyon_place))
    client.session.save()
    client.cookies[COOKIE] = before = client.session.session_key
    book(client, first_slot_url(client, demo.cni, demo.lyon_place))
    assert client.cookies[COOKIE].value != before


def test_citizens_sessions_are_short_agents_keep_theirs(demo, client, settings):
    appointment = owner_appointment(demo)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        verify(client, appointment)
        assert client.session.get_expiry_age() == settings.PUBLIC_SESSION_AGE == 1800
        assert unlocked(client, appointment)
    with time_machine.travel(start + timedelta(seconds=settings.PUBLIC_SESSION_AGE + 60), tick=False):
        assert not unlocked(client, appointment)  # the next person at that computer
    # Agents: a working day, set at login.
    user = get_user_model().objects.create_superuser("ops", "ops@exemple.fr", "un-mot-de-passe-long")
    agent = Client()
    assert agent.post("/admin/login/", {"username": "ops", "password": "un-mot-de-passe-long"}).status_code == 302
    assert agent.session.get_expiry_age() == settings.ADMIN_SESSION_AGE == 9 * 3600
    assert user.is_superuser


def test_a_stranger_guessing_from_many_addresses_cannot_lock_the_owner_out(demo, settings):
    appointment = owner_appointment(demo)
    count, _seconds = settings.PUBLIC_RATE_LIMITS["initials_token"]
    refused = []
    for n in range(4):
        stranger = Client(REMOTE_ADDR=f"198.51.100.{n + 1}")
        answers = [verify(stranger, appointment, "Z", chr(ord("A") + i)).status_code for i in range(count + 2)]
        refused.append(answers.count(429))
    assert refused == [2, 2, 2, 2]  # each guesser is stopped after its own `count` tries
    owner = Client(REMOTE_ADDR="203.0.113.80")
    assert verify(owner, appointment).status_code == 302
    assert unlocked(owner, appointment)


def test_spoofed_forwarding_headers_do_not_multiply_a_guessers_tries(demo, settings):
    appointment = owner_appointment(demo)
    count, _seconds = settings.PUBLIC_RATE_LIMITS["initials_token"]
    stranger = Client(REMOTE_ADDR="198.51.100.7")
    answers = [verify(stranger, appointment, "Z", "Z", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code
               for i in range(count + 3)]
    assert answers.count(429) == 3
