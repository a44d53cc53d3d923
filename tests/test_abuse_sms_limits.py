"""SMS pumping and harassment (issue 10, item 2): the public SMS budget, the per-recipient daily
limits, international SMS routes off by default, and names checked before they reach a message."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from appointments.models import Appointment, BookedBy, Channel
from notifications.limits import public_budget_state
from notifications.models import Event, Notification, Status

from .public_pages import book, first_slot_url, text


def book_publicly(client, demo, n, **data):
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    return book(client, url, {"phone": f"06 12 00 00 {n:02d}", "email": f"usager{n}@exemple.fr", **data},
                REMOTE_ADDR=f"203.0.113.{n + 1}")


def test_beyond_the_public_budget_bookings_stand_their_sms_are_withheld_and_emails_go(
        demo, client, committed, sms_outbox, settings, caplog):
    settings.SMS_BUDGET_PUBLIC_PER_HOUR = 2
    # Four bookings of one motif's week: above the surge cap, which is not what this is about.
    settings.PUBLIC_RATE_LIMITS = {**settings.PUBLIC_RATE_LIMITS, "book_motif_week": (100, 3600)}
    with caplog.at_level(logging.WARNING, logger="notifications.limits"), committed():
        statuses = [book_publicly(client, demo, n).status_code for n in range(4)]
    assert statuses == [302] * 4
    assert Appointment.objects.filter(booked_by=BookedBy.CITIZEN).count() == 4
    assert len(sms_outbox) == 2
    sms = Notification.objects.filter(channel=Channel.SMS, contact__isnull=False).order_by("pk")
    assert [n.status for n in sms] == [Status.SENT, Status.SENT, Status.LIMITED, Status.LIMITED]
    withheld = sms.filter(status=Status.LIMITED)
    assert {n.error_code for n in withheld} == {"public_budget"}
    assert all("plafond horaire" in n.error_message for n in withheld)
    # Every citizen still gets the confirmation email.
    assert sorted(m.to[0] for m in mail.outbox if m.to[0].startswith("usager")) == [f"usager{n}@exemple.fr" for n in range(4)]
    # Operators see it: the log (ids only), and the health check.
    assert sum("public SMS budget reached" in r.getMessage() for r in caplog.records) == 2
    assert not any("06 12" in r.getMessage() or "+336" in r.getMessage() for r in caplog.records)
    assert public_budget_state() == {"used": 2, "refused": 2, "limit": 2, "exhausted": True}
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@exemple.fr", "x" * 16))
    page = text(client.get("/admin/notifications/notificationdashboard/"))
    assert "pages publiques dans l'heure en cours : 2 sur 2 autorisés" in page and "2 non envoyés" in page
    assert "non envoyé (plafond atteint)" in page  # the status in the period's totals


def test_a_citizen_cancelling_draws_on_the_budget_an_agent_does_not(demo, committed, sms_outbox, settings):
    from appointments import services

    settings.SMS_BUDGET_PUBLIC_PER_HOUR = 1
    with committed():
        first = demo.book(contacts=[demo.contact(phone="+33612000001")])
        second = demo.book(hour=11, contacts=[demo.contact(phone="+33612000002")])
        services.cancel(first, actor=BookedBy.CITIZEN)
        services.cancel(second, actor=BookedBy.CITIZEN)
        third = demo.book(hour=14, contacts=[demo.contact(phone="+33612000003")])
        services.cancel(third, actor=BookedBy.AGENT, agent=demo.camille)
    cancellations = Notification.objects.filter(event=Event.CANCELLATION, channel=Channel.SMS).order_by("pk")
    assert [n.status for n in cancellations] == [Status.SENT, Status.LIMITED, Status.SENT]
    # Agents' bookings never touched the budget.
    confirmations = Notification.objects.filter(event=Event.CONFIRMATION, channel=Channel.SMS)
    assert confirmations.count() == 3 and not confirmations.filter(status=Status.LIMITED).exists()


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_one_recipient_gets_at_most_the_daily_limit_whatever_the_contacts(demo, committed, sms_outbox, settings, channel):
    settings.SMS_PER_NUMBER_PER_DAY = 3
    settings.EMAIL_PER_ADDRESS_PER_DAY = 3
    with committed():
        for n in range(5):
            # A new contact each time, the same number and address (written differently).
            contact = demo.contact(phone="+33699887766" if n % 2 else "0699887766",
                                   email="Victime@Exemple.fr" if n % 2 else "victime@exemple.fr")
            demo.book(hour=9 + n, contacts=[contact])
    records = Notification.objects.filter(channel=channel, contact__isnull=False).order_by("pk")
    assert [r.status for r in records] == [Status.SENT] * 3 + [Status.LIMITED] * 2
    assert {r.error_code for r in records if r.status == Status.LIMITED} == {"recipient_daily"}
    if channel == "sms":
        assert len(sms_outbox) == 3
    else:
        assert len([m for m in mail.outbox if m.to[0].lower() == "victime@exemple.fr"]) == 3
    # Agents' own emails are not a citizen's inbox: not counted.
    assert not Notification.objects.filter(recipient_agent__isnull=False, status=Status.LIMITED).exists()


@pytest.mark.redis
def test_the_counters_are_shared_through_redis(demo, settings):
    from django.core.cache import cache

    from notifications.limits import recipient_allows

    from .servers import REDIS_URL

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                                   "KEY_PREFIX": "rdv-test-limits"}}
    settings.SMS_PER_NUMBER_PER_DAY = 2
    cache.clear()
    try:
        assert [recipient_allows("sms", "+33699887766") for _ in range(3)] == [True, True, False]
        import redis

        keys = redis.Redis.from_url(REDIS_URL).keys("rdv-test-limits*")
        assert keys and not any(b"699887766" in key for key in keys)  # hashed, never the number
    finally:
        cache.clear()


@pytest.mark.redis
def test_a_batch_counts_its_recipients_in_one_go_on_the_same_counters(demo, settings):
    """recipients_allow (a batch's chunk, one Redis round trip) and recipient_allows (one
    message) count on the same keys, in order, and every counter expires with its day."""
    import redis
    from django.core.cache import cache

    from notifications.limits import recipient_allows, recipients_allow

    from .servers import REDIS_URL

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                                   "KEY_PREFIX": "rdv-test-limits"}}
    settings.SMS_PER_NUMBER_PER_DAY = 3
    settings.EMAIL_PER_ADDRESS_PER_DAY = 1
    cache.clear()
    try:
        assert recipient_allows("sms", "+33699887766")
        chunk = [("sms", "+33699887766"), ("email", "a@exemple.fr"), ("sms", "+33699887766"), ("sms", "+33699887766"),
                 ("email", "A@exemple.fr "), ("sms", "+33611111111")]
        assert recipients_allow(chunk) == [True, True, True, False, False, True]
        assert not recipient_allows("sms", "+33699887766")
        assert recipients_allow([]) == []
        client = redis.Redis.from_url(REDIS_URL)
        ttls = [client.ttl(key) for key in client.keys("rdv-test-limits*")]
        assert len(ttls) == 3 and all(0 < ttl <= 86400 for ttl in ttls)
    finally:
        cache.clear()


# --- International routes -------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["+689 87 12 34 56", "+687 75 12 34", "+681 82 12 34", "+508 55 12 34"])
def test_international_routes_are_refused_on_the_public_form_by_default(demo, client, number):
    response = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"phone": number})
    assert response.status_code == 200
    assert "ne pas de SMS" not in text(response)
    assert "Polynésie française" in text(response)
    assert not Appointment.objects.exists()


def test_an_organisation_can_enable_international_routes(demo, client, committed, sms_outbox):
    demo.lyon.international_sms = True
    demo.lyon.save()
    with committed():
        response = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"phone": "+689 87 12 34 56"})
    assert response.status_code == 302
    assert [m.to for m in sms_outbox] == ["+68987123456"]


def test_an_international_number_typed_by_an_agent_gets_no_sms_until_enabled(demo, committed, sms_outbox):
    contact = demo.contact(phone="+68987123456")
    assert contact.sms_consent and not contact.can_receive_sms()
    with committed():
        demo.book(contacts=[contact])
    assert sms_outbox == []
    demo.lyon.international_sms = True
    demo.lyon.save()
    contact.refresh_from_db()
    assert contact.can_receive_sms()


# --- Names and free text that reach a message -----------------------------------------------------


@pytest.mark.parametrize("field, value", [
    ("first_name", "😀"), ("last_name", "123"), ("last_name", "Cliquez ici http://phish.example"),
    ("first_name", "phish.example"), ("last_name", "www.exemple.fr"), ("first_name", "Léa2"),
    ("last_name", "<b>Dupont</b>"), ("first_name", "-"), ("last_name", "Dupont @bit.ly"),
])
def test_names_that_are_not_names_are_refused_in_french(demo, client, field, value):
    response = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {field: value})
    assert response.status_code == 200
    assert "ne peut contenir que des lettres" in text(response)
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("first, last", [("Jean-Marie", "N'Diaye"), ("Zoë", "Le Gall"), ("Anaïs", "St. Clair"),
                                         ("Ōmar", "D’Artagnan")])
def test_real_names_still_pass(demo, client, first, last):
    response = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"first_name": first, "last_name": last})
    assert response.status_code == 302


def test_the_postal_address_of_a_home_appointment_takes_no_links():
    from appointments.public_forms import check_free_text
    from django.core.exceptions import ValidationError

    assert check_free_text("12 bis rue de la Paix, 69001 Lyon")
    for value in ("http://phish.example", "rdv sur bit.ly/abc", "écrire à x@y.fr", "12 34"):
        with pytest.raises(ValidationError):
            check_free_text(value)
