"""Citizens book on the public pages: the path, the contact details, consent, and abuse."""

import threading

import pytest
from django.db import connection
from django.test import Client

from appointments import services
from appointments.consent import CONSENT_TEXT_VERSION
from appointments.models import Appointment, AppointmentStatus, BookedBy, ConsentRecord, Contact, LocationType, Motif
from appointments.phones import NOT_A_FRENCH_MOBILE

from .public_pages import CONTACT, book, first_slot_url, links, slot_start, text


def test_a_citizen_books_from_the_home_page_to_the_confirmation(demo, client):
    visited = []

    def get(url):
        visited.append(url)
        response = client.get(url)
        assert response.status_code == 200, url
        return response

    home = get("/")
    [motif_page] = [u for u in links(home, "/reserver/motif/") if u.endswith(f"={demo.cni.service_id}")]
    [place_page] = [u for u in links(get(motif_page), "/reserver/lieu/") if u.endswith(f"={demo.cni.pk}")]
    [slots_page] = links(get(place_page), "/reserver/creneau/")
    slot = links(get(slots_page), "/reserver/coordonnees/")[0]
    contact_page = get(slot)
    assert "Vos coordonnées" in contact_page.content.decode()

    recap = client.post(slot, CONTACT)
    assert "Confirmer le rendez-vous" in recap.content.decode()
    assert not Appointment.objects.exists()  # nothing is booked before the citizen confirms

    done = client.post(slot, {**CONTACT, "confirmer": "1"})
    assert done.status_code == 302
    visited.append(done.url)
    page = get(done.url).content.decode()

    appointment = Appointment.objects.get()
    assert appointment.booked_by == BookedBy.CITIZEN and appointment.status == AppointmentStatus.CONFIRMED
    assert appointment.starts_at == slot_start(slot)
    assert set(appointment.agents.all()) <= {demo.camille, demo.julien}
    assert appointment.place == demo.lyon_place
    # The confirmation sums the appointment up as the confirmation email does.
    local = appointment.local_starts_at
    for expected in (f"{local.day} ", f"à {local.hour}h{local:%M}", "Léa Dupont", demo.cni.name[:40], "Titres d&#x27;identité",
                     "20 minutes", "215 rue Duguesclin", "Apportez votre pré-demande ANTS", appointment.link_url()):
        assert expected in page, expected
    # No personal data in any address the citizen went through.
    for url in visited:
        for personal in ("Léa", "L%C3%A9a", "Dupont", "0612345678", "612345678", "lea.dupont", "exemple.fr"):
            assert personal not in url


def test_giving_a_number_and_an_address_is_the_consent_recorded_per_channel(demo, client):
    # Giving the details is the consent (the seed's definition): there is no box to tick,
    # and unticked boxes posted by an old page change nothing.
    book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"sms_consent": "", "email_consent": ""})
    contact = Contact.objects.get()
    assert contact.sms_consent and contact.email_consent
    records = ConsentRecord.objects.filter(contact=contact).order_by("channel")
    assert [(r.channel, r.granted, r.source, r.agent, r.text_version) for r in records] == [
        ("email", True, "citizen", None, CONSENT_TEXT_VERSION), ("sms", True, "citizen", None, CONSENT_TEXT_VERSION)]


def test_a_phone_number_or_an_email_is_needed(demo, client):
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    response = client.post(url, {**CONTACT, "phone": "", "email": ""})
    assert "Indiquez un numéro de téléphone ou une adresse e-mail" in response.content.decode()
    assert not Contact.objects.exists()


@pytest.mark.parametrize("number", ["01 42 76 40 40", "+44 7911 123456", "+1 202 555 0143", "0899 12 34 56"])
def test_sms_go_only_to_french_mobiles(demo, client, number):
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    response = book(client, url, {"phone": number})
    page = text(response)
    assert response.status_code == 200
    assert str(NOT_A_FRENCH_MOBILE) in page
    # The error is tied to its field for screen readers.
    assert 'aria-describedby="id_phone-desc-error"' in page and 'id="id_phone-desc-error"' in page
    assert not Appointment.objects.exists() and not Contact.objects.exists()


@pytest.mark.parametrize("number", ["06 12 34 56 78", "07 81 23 45 67", "+590 690 12 34 56", "+262 692 12 34 56"])
def test_metropolitan_and_overseas_mobiles_are_accepted(demo, client, number):
    response = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"phone": number})
    assert response.status_code == 302
    assert Contact.objects.get().can_receive_sms()


def test_a_phone_appointment_skips_the_place_and_needs_a_phone(demo, client):
    motif = Motif.objects.get(name="Entretien téléphonique avec une assistante sociale")
    response = client.get(f"/reserver/lieu/?motif={motif.pk}")
    assert response.status_code == 302 and "lieu=" not in response.url
    url = first_slot_url(client, motif)
    response = client.post(url, {**CONTACT, "phone": ""})
    assert "Ce champ est obligatoire" in response.content.decode()
    assert book(client, url).status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.location_type == LocationType.PHONE and appointment.place is None


def test_names_are_escaped_on_every_page(demo, client):
    evil = "<script>alert(1)</script>"
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    # Markup is not a name (tests/test_abuse_sms_limits.py): refused, and shown back escaped.
    refused = client.post(url, {**CONTACT, "first_name": evil, "last_name": evil}).content.decode()
    assert evil not in refused and "&lt;script&gt;alert(1)&lt;/script&gt;" in refused
    # What a real name may hold that HTML cares about, the apostrophe, is escaped.
    recap = client.post(url, {**CONTACT, "last_name": "N'Diaye"}).content.decode()
    done = client.get(book(client, url, {"last_name": "N'Diaye"}).url).content.decode()
    for page in (recap, done):
        assert "N'Diaye" not in page and "N&#x27;Diaye" in page
    assert Contact.objects.get().last_name == "N'Diaye"  # stored as typed, escaped when shown


def test_a_bot_filling_the_hidden_field_books_nothing(demo, client):
    response = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"site_web": "http://spam.example"})
    assert response.status_code == 200
    assert "Votre demande n'a pas pu être traitée" in text(response)
    assert not Appointment.objects.exists()


def test_forms_refuse_posts_without_the_csrf_token(demo):
    client = Client(enforce_csrf_checks=True)
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    assert client.post(url, {**CONTACT, "confirmer": "1"}).status_code == 403
    assert not Appointment.objects.exists()


def test_a_slot_taken_meanwhile_is_refused_plainly_with_other_slots(demo, client):
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    starts_at = slot_start(url)
    client.post(url, CONTACT)  # the citizen reads the summary...
    for agent in (demo.camille, demo.julien):  # ...while agents give the slot away
        demo.book(starts_at=starts_at, agents=[agent])
    contacts_before = Contact.objects.count()
    response = client.post(url, {**CONTACT, "confirmer": "1"})
    page = text(response)
    assert response.status_code == 409
    assert "Ce créneau vient d'être pris par une autre personne" in page
    assert links(response, "/reserver/coordonnees/"), "other slots are offered"
    assert Appointment.objects.filter(booked_by=BookedBy.CITIZEN).count() == 0
    assert Contact.objects.count() == contacts_before  # the refused citizen's details were not kept


def test_unknown_or_malformed_parameters_are_404(demo, client):
    for url in ("/reserver/motif/?service=999999", "/reserver/motif/?service=abc", "/reserver/creneau/?motif=1&lieu=x",
                f"/reserver/creneau/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}&semaine=1999-01-01",
                f"/reserver/coordonnees/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}&debut=demain"):
        assert client.get(url).status_code == 404, url
    hidden = Motif.objects.get(name__startswith="Dépôt de dossier de mariage")  # not bookable online
    assert client.get(f"/reserver/creneau/?motif={hidden.pk}&lieu={demo.lyon_place.pk}").status_code == 404


def test_a_week_without_slot_says_so_and_points_to_the_next_one(demo, client):
    from appointments.models import OpeningHours
    from datetime import timedelta
    from django.utils import timezone

    later = timezone.localdate() + timedelta(days=21)
    OpeningHours.objects.filter(place=demo.lyon_place).update(valid_from=later)
    response = client.get(f"/reserver/creneau/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}")
    page = response.content.decode()
    assert "Aucun créneau disponible cette semaine" in page
    assert "Prochain créneau disponible" in page
    assert links(response, "/reserver/creneau/")  # "semaine suivante" and the next available week


def test_public_pages_are_never_stored_by_shared_caches(demo, client):
    for url in ("/", f"/reserver/creneau/?motif={demo.cni.pk}&lieu={demo.lyon_place.pk}"):
        response = client.get(url)
        assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
        assert response["Referrer-Policy"] == "same-origin"


# --- Rate limits ------------------------------------------------------------------------------


def test_booking_is_rate_limited_per_client_address(demo, client, settings):
    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "book_ip": (2, 3600)}
    for i in range(2):
        url = first_slot_url(client, demo.cni, demo.lyon_place)
        assert book(client, url, {"phone": f"06 12 34 56 7{i}"}).status_code == 302
    response = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"phone": "06 12 34 56 79"})
    assert response.status_code == 429
    assert "Trop de tentatives" in response.content.decode()
    assert int(response["Retry-After"]) == 3600
    assert Appointment.objects.count() == 2
    # Another address is not affected.
    other = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"phone": "06 12 34 56 79", "email": "autre@exemple.fr"},
                 REMOTE_ADDR="10.0.0.2")
    assert other.status_code == 302


def test_booking_is_rate_limited_per_phone_number(demo, client, settings):
    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "book_phone": (2, 3600)}
    for i in range(2):
        url = first_slot_url(client, demo.cni, demo.lyon_place)
        assert book(client, url, REMOTE_ADDR=f"10.0.1.{i}").status_code == 302
    # Same number written differently, from yet another address.
    response = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"phone": "+33612345678"}, REMOTE_ADDR="10.0.1.9")
    assert response.status_code == 429
    assert Appointment.objects.count() == 2


@pytest.mark.redis
def test_rate_limits_are_shared_through_redis(demo, client, settings):
    from django.core.cache import cache

    from .servers import REDIS_URL

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                                   "KEY_PREFIX": "rdv-test-pages"}}
    cache.clear()
    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "book_ip": (1, 60)}
    assert book(client, first_slot_url(client, demo.cni, demo.lyon_place)).status_code == 302
    import redis

    stored = redis.Redis.from_url(REDIS_URL).keys("rdv-test-pages:1:ratelimit:book_ip:*")
    assert len(stored) == 1  # the counter lives in Redis, under a hash (not the address itself)
    assert b"127.0.0.1" not in stored[0]
    # Another web process (another client, same address) sees the same counter.
    second = book(Client(), first_slot_url(client, demo.cni, demo.lyon_place), {"phone": "06 11 22 33 44"})
    assert second.status_code == 429
    cache.clear()


# --- Two citizens, one slot ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_citizens_racing_for_one_slot_one_wins_and_the_other_is_told(demo, monkeypatch):
    """Both requests pass the pages' own check, then book at the same moment: the database
    lets one through; the other citizen sees a plain message and other slots."""
    motif = demo.guadeloupe.motifs.get()  # one agent: Marie
    place = demo.guadeloupe_place
    url = first_slot_url(Client(), motif, place)
    barrier = threading.Barrier(2)
    real_book = services.book

    def book_together(**kwargs):
        barrier.wait(timeout=10)
        return real_book(**kwargs)

    monkeypatch.setattr(services, "book", book_together)
    results = []

    def citizen(first_name, phone, address):
        try:
            client = Client(REMOTE_ADDR=address)
            response = book(client, url, {"first_name": first_name, "phone": phone})
            results.append((response.status_code, text(response)))
        finally:
            connection.close()

    threads = [threading.Thread(target=citizen, args=args)
               for args in (("Léa", "06 12 34 56 78", "10.0.0.1"), ("Noé", "06 98 76 54 32", "10.0.0.2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    statuses = sorted(status for status, _ in results)
    assert statuses == [302, 409]
    [refused] = [page for status, page in results if status == 409]
    assert "Ce créneau vient d'être pris par une autre personne" in refused
    assert "/reserver/coordonnees/" in refused
    assert Appointment.objects.filter(starts_at=slot_start(url), status=AppointmentStatus.CONFIRMED).count() == 1
    # The loser's contact details were not kept.
    assert Contact.objects.filter(organisation=demo.guadeloupe).count() == 1


def test_an_old_slot_link_says_the_slot_is_no_longer_available(demo, client):
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    for agent in (demo.camille, demo.julien):
        demo.book(starts_at=slot_start(url), agents=[agent])
    response = client.get(url)
    assert response.status_code == 409
    assert "Ce créneau n'est plus disponible" in text(response)
    assert links(response, "/reserver/coordonnees/")
