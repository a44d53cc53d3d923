"""Agents book, reschedule and cancel in the admin, and see only their organisations."""

import html

import pytest

from appointments import signals
from appointments.models import Appointment, AppointmentStatus, ConsentRecord, Contact

from .factories import appointment_form, next_weekday



@pytest.fixture
def sent():
    received = []

    def receiver(signal, sender, appointment, **kwargs):
        received.append(signal)

    for signal in (signals.appointment_confirmed, signals.appointment_changed, signals.appointment_cancelled):
        signal.connect(receiver)
    yield received
    for signal in (signals.appointment_confirmed, signals.appointment_changed, signals.appointment_cancelled):
        signal.disconnect(receiver)


def test_an_agent_creates_a_contact_giving_the_details_is_the_consent(camille_client, demo):
    page = html.unescape(camille_client.get("/admin/appointments/contact/add/").content.decode())
    assert "En donnant son numéro de mobile, l'usager accepte de recevoir par SMS" in page
    assert "STOP" not in page  # the default sender cannot receive replies
    response = camille_client.post("/admin/appointments/contact/add/", {
        "first_name": "Léa", "last_name": "Dupont", "phone": "06 12 34 56 78", "email": "lea@exemple.fr", "address": "",
        "email_refused": "on",  # the citizen said: no emails
        "consent_records-TOTAL_FORMS": "0", "consent_records-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    contact = Contact.objects.get(last_name="Dupont")
    assert str(contact.phone) == "+33612345678" and contact.organisation == demo.lyon
    assert contact.sms_consent and not contact.email_consent
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.channel, record.granted, record.source, record.agent) == ("sms", True, "agent", demo.camille)


def test_a_landline_is_kept_without_sms_consent(camille_client, demo):
    response = camille_client.post("/admin/appointments/contact/add/", {
        "first_name": "Léa", "last_name": "Dupont", "phone": "01 40 00 00 00", "email": "", "address": "",
        "consent_records-TOTAL_FORMS": "0", "consent_records-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302
    contact = Contact.objects.get(last_name="Dupont")
    assert str(contact.phone) == "+33140000000" and not contact.sms_consent and not contact.email_consent
    assert not ConsentRecord.objects.filter(contact=contact).exists()


def test_an_agent_books_reschedules_and_cancels(camille_client, demo, sent):
    contact = demo.contact()
    day = next_weekday()
    response = camille_client.post("/admin/appointments/appointment/add/", appointment_form(demo, contact, day=day))
    assert response.status_code == 302, response.content.decode()[:3000]
    appointment = Appointment.objects.get()
    assert appointment.local_starts_at.date() == day and appointment.local_starts_at.hour == 10
    assert appointment.duration_minutes == demo.cni.default_duration_minutes
    assert list(appointment.contacts.all()) == [contact] and list(appointment.agents.all()) == [demo.camille]
    assert appointment.booked_by_agent == demo.camille
    assert sent == [signals.appointment_confirmed]

    url = f"/admin/appointments/appointment/{appointment.pk}/change/"
    response = camille_client.post(url, appointment_form(demo, contact, day=day, time="14:30"))
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.local_starts_at.strftime("%H:%M") == "14:30" and appointment.sequence == 1
    assert sent == [signals.appointment_confirmed, signals.appointment_changed]

    response = camille_client.post(url, appointment_form(
        demo, contact, day=day, time="14:30", status="cancelled_by_agent", cancellation_reason="Agent en congé"))
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED_BY_AGENT
    assert appointment.cancellation_reason == "Agent en congé"
    assert sent == [signals.appointment_confirmed, signals.appointment_changed, signals.appointment_cancelled]


def test_cancelling_needs_a_reason(camille_client, demo):
    appointment = demo.book()
    url = f"/admin/appointments/appointment/{appointment.pk}/change/"
    response = camille_client.post(url, appointment_form(
        demo, appointment.contacts.get(), day=appointment.local_starts_at.date(), status="cancelled_by_agent"))
    assert response.status_code == 200
    assert "Indiquez le motif de l" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED


def test_booking_a_busy_agent_is_refused_on_the_form(camille_client, demo):
    taken = demo.book()
    contact = demo.contact(first_name="Noé")
    response = camille_client.post("/admin/appointments/appointment/add/", appointment_form(
        demo, contact, day=taken.local_starts_at.date(), time=taken.local_starts_at.strftime("%H:%M")))
    assert response.status_code == 200
    assert "a déjà un rendez-vous sur ce créneau" in response.content.decode()
    assert Appointment.objects.count() == 1


def test_an_agent_sees_only_its_organisations(camille_client, demo):
    mine = demo.book()
    other_contact = demo.contact(demo.arras, first_name="Paul", last_name="Autre", agent=demo.sophie)
    theirs = demo.book(motif=demo.arras.motifs.filter(location_type="on_site").first(), agents=[demo.sophie],
                       contacts=[other_contact])
    listing = camille_client.get("/admin/appointments/appointment/").content.decode()
    assert f"/admin/appointments/appointment/{mine.pk}/change/" in listing
    assert f"/admin/appointments/appointment/{theirs.pk}/change/" not in listing
    # Not only hidden: the objects are out of reach.
    assert camille_client.get(f"/admin/appointments/appointment/{theirs.pk}/change/").status_code == 302
    assert Appointment.objects.get(pk=theirs.pk).status == AppointmentStatus.CONFIRMED
    contacts = camille_client.get("/admin/appointments/contact/").content.decode()
    assert f"/admin/appointments/contact/{other_contact.pk}/change/" not in contacts
    assert camille_client.get(f"/admin/appointments/contact/{other_contact.pk}/change/").status_code == 302


def test_an_agent_cannot_book_with_another_organisations_contact_or_motif(camille_client, demo):
    other_contact = demo.contact(demo.arras, first_name="Paul", last_name="Autre", agent=demo.sophie)
    response = camille_client.post("/admin/appointments/appointment/add/",
                                   appointment_form(demo, other_contact, day=next_weekday()))
    assert response.status_code == 200 and not Appointment.objects.exists()
    arras_motif = demo.arras.motifs.first()
    contact = demo.contact()
    response = camille_client.post("/admin/appointments/appointment/add/",
                                   appointment_form(demo, contact, day=next_weekday(), motif=arras_motif.pk))
    assert response.status_code == 200 and not Appointment.objects.exists()


def test_list_filters_and_search_by_phone(camille_client, demo):
    appointment = demo.book()
    response = camille_client.get("/admin/appointments/appointment/", {"q": "+33612345678"})
    assert f"/admin/appointments/appointment/{appointment.pk}/change/" in response.content.decode()
    response = camille_client.get("/admin/appointments/appointment/", {"status__exact": "cancelled_by_agent"})
    assert f"/admin/appointments/appointment/{appointment.pk}/change/" not in response.content.decode()


def test_contact_autocomplete_finds_only_the_agents_organisation(camille_client, demo):
    demo.contact(first_name="Paul", last_name="Lyonnais")
    demo.contact(demo.arras, first_name="Paul", last_name="Arrageois", agent=demo.sophie)
    assert camille_client.get("/admin/appointments/appointment/add/").status_code == 200
    response = camille_client.get("/admin/autocomplete/", {
        "app_label": "appointments", "model_name": "appointment", "field_name": "contacts", "term": "Paul"})
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Paul Lyonnais"]
