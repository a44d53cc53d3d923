"""Opting out, the French way: "ne plus recevoir" on the link page (alphanumeric senders take
no replies), STOP only promised when the sender receives replies, every Twilio opt-out
signal honoured, and an opt-out that belongs to the number or address (the suppression
list), not to one contact: a later booking with the same details stays silent."""

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.test import override_settings
from twilio.request_validator import RequestValidator

from appointments.consent import consent_text
from appointments.models import LINK_PREFIX, Channel, ConsentRecord, Contact
from notifications.models import Notification, Status, Suppression
from notifications.sms import PermanentSmsError
from notifications.suppression import is_suppressed

from .notifying import ScriptedSmsBackend
from .public_pages import book, first_slot_url, text

TOKEN = "test-auth-token"
BASE = "https://rdv.example.fr"
MOBILE = "+33612345678"


@pytest.fixture
def signed_post(client):
    def post(path, params):
        signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
        return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)

    with override_settings(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=BASE):
        yield post


def inbound(signed_post, body, **extra):
    response = signed_post("/webhooks/twilio/inbound", {"From": MOBILE, "To": "RDV S.P.", "Body": body, **extra})
    assert response.status_code == 200
    return response


def sms_sources(contact):
    return list(ConsentRecord.objects.filter(contact=contact, channel="sms").order_by("recorded_at", "id")
                .values_list("granted", "source"))


# --- STOP is promised only when the sender can take it --------------------------------------

def test_no_text_promises_stop_with_the_default_alphanumeric_sender(demo, client):
    for audience in ("citizen", "agent"):
        assert "STOP" not in consent_text("sms", audience)
    page = text(client.get(first_slot_url(client, demo.cni, demo.lyon_place)))
    assert "STOP" not in page and "depuis la page de votre rendez-vous" in page


@override_settings(SMS_SENDER_RECEIVES_REPLIES=True)
def test_a_sender_that_receives_replies_promises_stop_and_records_that_text(demo, client):
    assert consent_text("sms").endswith("ou en répondant STOP.")
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    assert "ou en répondant STOP" in text(client.get(url))
    book(client, url)
    record = ConsentRecord.objects.get(channel="sms")
    assert record.text_version.endswith("+stop")


# --- every Twilio opt-out signal counts ---------------------------------------------------

@pytest.mark.parametrize("body", [
    "STOP", "stop", "Stop merci", "STOP SMS", "stop.", "ARRÊT", "arret", " Arrêt svp ", "STOPALL", "unsubscribe",
    "Cancel", "END", "quit", "OPTOUT", "opt-out", "Revoke", "STOP\n",
])
def test_every_opt_out_keyword_puts_the_number_on_the_list(signed_post, demo, body):
    contact, same_number = demo.contact(), demo.contact(first_name="Hugo")
    inbound(signed_post, body)
    assert is_suppressed(Channel.SMS, "06 12 34 56 78")
    for person in (contact, same_number):
        person.refresh_from_db()
        assert not person.sms_consent and person.email_consent
        assert sms_sources(person)[-1] == (False, "inbound_sms")


@pytest.mark.parametrize("body", ["Merci, à mardi", "Je ne pourrai pas venir", "stopper", "Bonjour stop", "START", ""])
def test_other_replies_change_nothing(signed_post, demo, body):
    contact = demo.contact()
    inbound(signed_post, body)
    contact.refresh_from_db()
    assert contact.sms_consent and not Suppression.objects.exists()


def test_twilio_opt_out_type_counts_whatever_the_words(signed_post, demo):
    contact = demo.contact()
    inbound(signed_post, "Non merci", OptOutType="STOP")
    contact.refresh_from_db()
    assert not contact.sms_consent and is_suppressed(Channel.SMS, MOBILE)
    # START (Twilio's Advanced Opt-Out) lifts the opposition: the next booking may text again.
    inbound(signed_post, "Start", OptOutType="START")
    assert not is_suppressed(Channel.SMS, MOBILE)


@override_settings(SMS_BACKEND="tests.notifying.ScriptedSmsBackend")
def test_twilio_error_21610_on_a_send_suppresses_the_number(demo, committed):
    ScriptedSmsBackend.reset([PermanentSmsError("Attempt to send to unsubscribed recipient", code=21610)])
    other = demo.contact(first_name="Hugo")  # another contact row with the same number
    with committed():
        demo.book()
    sms = Notification.objects.get(channel="sms")
    assert (sms.status, sms.error_code) == (Status.FAILED, "21610")
    assert is_suppressed(Channel.SMS, MOBILE)
    other.refresh_from_db()
    assert not other.sms_consent and sms_sources(other)[-1] == (False, "provider_opt_out")
    with committed():
        demo.book(days=9)
    assert Notification.objects.filter(channel="sms").count() == 1  # nothing planned for the second
    assert ScriptedSmsBackend.calls == 1


# --- an opt-out belongs to the number: a second booking stays silent ----------------------

def test_a_second_public_booking_with_a_suppressed_number_sends_no_sms(signed_post, demo, client, committed, sms_outbox):
    inbound(signed_post, "Stop merci")
    with committed():
        response = book(client, first_slot_url(client, demo.cni, demo.lyon_place), {"phone": "06 12 34 56 78"})
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert not contact.sms_consent and contact.email_consent
    # Giving the number was recorded, and so was the opposition that still stands.
    assert sms_sources(contact) == [(True, "citizen"), (False, "suppression_list")]
    assert sms_outbox == [] and not Notification.objects.filter(channel="sms").exists()
    assert Notification.objects.get(channel="email", contact=contact).status == Status.SENT
    done = text(client.get(response.url))
    assert "ce numéro a demandé à ne plus recevoir de SMS" in done and "par SMS au" not in done


def test_a_number_typed_into_a_contact_after_its_opt_out_is_stopped_at_delivery(demo, committed, sms_outbox):
    Suppression.objects.create(channel="sms", address="+33687654321", source="inbound_sms")
    contact = demo.contact()
    Contact.objects.filter(pk=contact.pk).update(phone="+33687654321")  # a later correction, consent kept
    with committed():
        demo.book(contacts=[Contact.objects.get(pk=contact.pk)])
    sms = Notification.objects.get(channel="sms")
    assert sms.status == Status.CANCELLED and "opposition" in sms.error_message
    assert sms_outbox == []


def test_an_email_unsubscribe_reported_by_the_esp_covers_every_contact_with_that_address(demo, committed):
    same_address = demo.contact(first_name="Hugo", email="Lea.Dupont@Exemple.fr")
    with committed():
        demo.book()
    email = Notification.objects.get(channel="email", contact__isnull=False)
    tracking.send(sender=object, esp_name="TestESP", event=AnymailTrackingEvent(
        event_type="unsubscribed", message_id=email.provider_message_id, recipient=email.to))
    assert is_suppressed(Channel.EMAIL, "LEA.DUPONT@exemple.fr")
    same_address.refresh_from_db()
    assert not same_address.email_consent and same_address.sms_consent


# --- "ne plus recevoir" on the appointment's link page ------------------------------------

@pytest.fixture
def booked(demo, committed):
    with committed():
        return demo.book(contacts=[demo.contact(first_name="Élodie", last_name="Le Goff")], days=10)


def link(appointment):
    return f"{LINK_PREFIX}{appointment.token}"


def test_the_link_page_offers_to_stop_sms_and_records_it_like_any_withdrawal(booked, client, committed, sms_outbox):
    page = text(client.get(link(booked)))
    assert "Ne plus recevoir de SMS" not in page  # only once the initials are confirmed
    client.post(link(booked), {"first_initial": "E", "last_initial": "L"})
    page = text(client.get(link(booked)))
    assert "Ne plus recevoir de SMS" in page and "Ne plus recevoir d'e-mails" in page

    response = client.post(f"{link(booked)}/desinscription", {"channel": "sms"})
    assert response.status_code == 302
    page = text(client.get(response.url))
    assert "vous ne recevrez plus de SMS" in page and "Ne plus recevoir de SMS" not in page
    assert "Ne plus recevoir d'e-mails" in page
    contact = booked.contacts.get()
    assert not contact.sms_consent and contact.email_consent
    assert sms_sources(contact)[-1] == (False, "unsubscribe")
    assert Suppression.objects.get().source == "unsubscribe"

    # The same person books again with the same number: no SMS.
    sent_before = len(sms_outbox)
    with committed():
        book(client, first_slot_url(client, booked.motif, booked.place), {"phone": "06 12 34 56 78"})
    assert len(sms_outbox) == sent_before
    assert not Contact.objects.latest("pk").sms_consent


def test_stopping_emails_from_the_link_page(booked, client):
    client.post(link(booked), {"first_initial": "E", "last_initial": "L"})
    client.post(f"{link(booked)}/desinscription", {"channel": "email"})
    contact = booked.contacts.get()
    assert contact.sms_consent and not contact.email_consent
    assert ConsentRecord.objects.filter(contact=contact, channel="email").first().source == "unsubscribe"
    assert is_suppressed(Channel.EMAIL, contact.email)


@pytest.mark.parametrize("data", [{"channel": "sms"}, {"channel": "fax"}, {"channel": "sms", "site_web": "http://spam"}])
def test_the_unsubscribe_needs_the_initials_a_known_channel_and_no_honeypot(booked, client, data):
    verified = data.get("channel") != "sms" or "site_web" in data
    if verified:
        client.post(link(booked), {"first_initial": "E", "last_initial": "L"})
    assert client.post(f"{link(booked)}/desinscription", data).status_code == 302
    assert client.get(f"{link(booked)}/desinscription").status_code == 405
    contact = booked.contacts.get()
    assert contact.sms_consent and contact.email_consent and not Suppression.objects.exists()
