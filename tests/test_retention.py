"""Personal data retention (RGPD): notification texts erased 6 months after the appointment,
contacts anonymised 2 years after their last one, each pass recorded with counts only."""

from datetime import timedelta

import pytest
from django.conf import settings

from appointments.models import ConsentRecord
from notifications.models import Notification, RetentionRun, SmsOutboxMessage
from notifications.retention import ANONYMOUS, apply_retention

from .production import production_env, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(demo, committed):  # noqa: F811
    """An appointment a week ahead, its confirmation sent by SMS and email."""
    contact = demo.contact(first_name="Léa", last_name="Dupont", phone="+33612345678", email="lea.dupont@exemple.fr")
    with committed():
        appointment = demo.book(contacts=[contact])
    sent = Notification.objects.filter(appointment=appointment, contact=contact)
    assert sent.count() == 2 and all(n.body and n.to for n in sent)
    return appointment, contact


def days_after(appointment, days):
    return appointment.ends_at + timedelta(days=days)


def test_the_defaults_are_six_months_for_texts_and_two_years_for_contacts():
    assert settings.RETENTION_NOTIFICATION_BODY_DAYS == 180
    assert settings.RETENTION_CONTACT_DAYS == 730


def test_notification_texts_stay_until_six_months_after_the_appointment(booked):
    appointment, _ = booked
    run = apply_retention(now=days_after(appointment, 179))
    assert run.notifications_anonymised == 0
    assert not Notification.objects.filter(appointment=appointment, body="").exists()


def test_notification_texts_and_recipients_are_erased_after_six_months_the_record_stays(booked):
    appointment, contact = booked
    run = apply_retention(now=days_after(appointment, 181))
    notifications = Notification.objects.filter(appointment=appointment)
    assert run.notifications_anonymised == notifications.count() >= 2
    for notification in notifications:
        assert (notification.to, notification.body, notification.subject, notification.previous) == ("", "", "", {})
        assert notification.status and notification.channel and notification.sent_at  # the history stays
    contact.refresh_from_db()
    assert contact.phone and contact.anonymised_at is None  # contacts wait for their own delay


def test_contacts_are_anonymised_two_years_after_their_last_appointment(booked):
    appointment, contact = booked
    records_before = ConsentRecord.objects.filter(contact=contact).count()
    run = apply_retention(now=days_after(appointment, 731))
    contact.refresh_from_db()
    assert run.contacts_anonymised >= 1
    assert (contact.first_name, contact.last_name, str(contact.phone or ""), contact.email, contact.address) == (ANONYMOUS, "", "", "", "")
    assert not contact.sms_consent and not contact.email_consent
    assert not contact.can_receive_sms() and not contact.can_receive_email()
    assert contact.anonymised_at == days_after(appointment, 731)
    # The consent log is the proof of what was agreed; it holds no personal data.
    assert ConsentRecord.objects.filter(contact=contact).count() == records_before


def test_a_contact_with_a_later_appointment_is_kept(demo, booked, committed):  # noqa: F811
    appointment, contact = booked
    with committed():
        later = demo.book(contacts=[contact], days=400)
    apply_retention(now=days_after(appointment, 731))
    contact.refresh_from_db()
    assert contact.anonymised_at is None and contact.email == "lea.dupont@exemple.fr"
    apply_retention(now=days_after(later, 731))
    contact.refresh_from_db()
    assert contact.anonymised_at is not None and contact.email == ""


def test_home_addresses_and_cancellation_reasons_are_cleared_with_the_contacts(booked):
    appointment, _ = booked
    type(appointment).objects.filter(pk=appointment.pk).update(address="12 rue des Lilas, Lyon", cancellation_reason="Malade")
    apply_retention(now=days_after(appointment, 731))
    appointment.refresh_from_db()
    assert (appointment.address, appointment.cancellation_reason) == ("", "")


def test_the_local_sms_outbox_is_emptied_after_six_months(demo):
    old = SmsOutboxMessage.objects.create(to="+33612345678", body="Rappel", segments=1)
    SmsOutboxMessage.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(days=181))
    recent = SmsOutboxMessage.objects.create(to="+33687654321", body="Rappel", segments=1)
    run = apply_retention()
    assert run.outbox_messages_deleted == 1
    assert list(SmsOutboxMessage.objects.values_list("pk", flat=True)) == [recent.pk]


def test_each_pass_is_recorded_with_counts_and_a_second_pass_finds_nothing(booked):
    appointment, _ = booked
    now = days_after(appointment, 731)
    first = apply_retention(now=now)
    second = apply_retention(now=now + timedelta(minutes=1))
    assert RetentionRun.objects.count() == 2
    assert first.notifications_anonymised >= 2 and first.contacts_anonymised >= 1
    assert (second.notifications_anonymised, second.contacts_anonymised, second.appointments_cleared) == (0, 0, 0)
    assert first.contact_cutoff == now - timedelta(days=730)
    # Counts only: nothing in the record names anyone.
    assert "Dupont" not in str(RetentionRun.objects.values().first())


def test_the_retention_task_runs_daily_from_the_beat_schedule():
    from rdv.celery import app

    from celery.schedules import crontab

    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "notifications.apply_retention")
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert (len(schedule.hour), len(schedule.minute), len(schedule.day_of_week)) == (1, 1, 7)  # once a day
    app.loader.import_default_modules()
    assert "notifications.apply_retention" in app.tasks


@pytest.mark.parametrize("variable", ["RETENTION_NOTIFICATION_BODY_DAYS", "RETENTION_CONTACT_DAYS"])
def test_a_retention_delay_must_be_at_least_a_day(variable):
    result = run(["manage.py", "check"], production_env(**{variable: "0"}))
    assert result.returncode != 0 and variable in result.stderr
