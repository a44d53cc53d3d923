"""Personal data retention (RGPD): notification texts and status logs erased 6 months after the
appointment, contacts anonymised 2 years after their last one, each pass recorded with counts
only."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from appointments.models import ConsentRecord
from notifications import retention
from notifications.models import Notification, RetentionRun, SmsOutboxMessage, Status, StatusEvent
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


def provider_reports(notification, *statuses):
    """Status reports as a provider's webhooks leave them (the send itself logged one already)."""
    for number, status in enumerate(statuses):
        StatusEvent.objects.create(notification=notification, status=status, raw_event=f"twilio:{status}",
                                   provider_event_key=f"report-{notification.pk}-{number}")


def test_the_status_log_goes_with_the_texts_six_months_after_the_appointment(demo, booked, committed):
    appointment, _ = booked
    with committed():
        later = demo.book(contacts=[demo.contact(phone="+33687654321")], days=400)
    for notification in Notification.objects.all():
        provider_reports(notification, Status.SENT, Status.DELIVERED)
    events = StatusEvent.objects.filter(notification__appointment=appointment)
    kept = set(StatusEvent.objects.filter(notification__appointment=later).values_list("pk", flat=True))
    count = events.count()
    assert count >= 2 * 3 and kept

    assert apply_retention(now=days_after(appointment, 179)).status_events_deleted == 0
    assert events.count() == count

    run = apply_retention(now=days_after(appointment, 181))
    assert run.status_events_deleted == count
    assert not events.exists()
    # The records keep the status the log led to; the later appointment's log is untouched.
    assert set(Notification.objects.filter(appointment=appointment).values_list("status", flat=True)) == {Status.SENT}
    assert set(StatusEvent.objects.values_list("pk", flat=True)) == kept
    assert apply_retention(now=days_after(appointment, 182)).status_events_deleted == 0


def test_the_status_log_is_deleted_in_bulk_not_row_by_row(booked):
    appointment, _ = booked
    for notification in Notification.objects.filter(appointment=appointment):
        provider_reports(notification, Status.SENT, Status.DELIVERED, Status.DELIVERED)
    count = StatusEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        deleted = retention.purge_status_events(days_after(appointment, 1))
    deletes = [q["sql"] for q in queries.captured_queries
               if q["sql"].startswith('DELETE FROM "notifications_statusevent"')]
    assert deleted == count >= 8
    assert len(deletes) == 1  # one statement for the whole batch


def test_batches_that_end_in_the_middle_of_a_records_log_leave_nothing_behind(booked, monkeypatch):
    appointment, _ = booked
    for notification in Notification.objects.filter(appointment=appointment):
        provider_reports(notification, Status.SENT, Status.DELIVERED, Status.DELIVERED)
    count = StatusEvent.objects.count()
    monkeypatch.setattr(retention, "BATCH", 2)  # each record has 4 events: every batch cuts one
    assert retention.purge_status_events(days_after(appointment, 1)) == count
    assert not StatusEvent.objects.exists()


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
    assert first.status_events_deleted >= 2
    assert (second.notifications_anonymised, second.status_events_deleted, second.contacts_anonymised,
            second.appointments_cleared) == (0, 0, 0, 0)
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
