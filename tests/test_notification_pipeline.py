"""Who is told what, and exactly once: records per recipient and channel, tasks enqueued
after commit, claims that make duplicates harmless, retries on transient failures only."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from appointments import services
from appointments.models import BookedBy, Channel, NotificationLevel
from notifications import tasks
from notifications.delivery import deliver
from notifications.recovery import STALLED_AFTER, recover_by_age
from notifications.models import Event, Notification, Status
from notifications.sms import PermanentSmsError, TransientSmsError

from .notifying import ScriptedSmsBackend

SCRIPTED = "tests.notifying.ScriptedSmsBackend"


def statuses(**filters):
    return sorted(Notification.objects.filter(**filters).values_list("event", "channel", "status"))


# --- who gets what ----------------------------------------------------------------------

def test_a_booking_tells_each_contact_on_each_consented_channel(demo, committed, sms_outbox):
    both = demo.contact(first_name="Léa")
    sms_only = demo.contact(first_name="Hugo", phone="+33611111111", email="hugo@exemple.fr", email_consent=False)
    neither = demo.contact(first_name="Zoé", phone="", email="", sms=False, email_consent=False)
    with committed():
        appointment = demo.book(contacts=[both, sms_only, neither])
    assert appointment.pk  # the appointment books even for a contact with no channel
    assert sorted((n.contact.first_name, n.channel) for n in Notification.objects.all()) == [
        ("Hugo", "sms"), ("Léa", "email"), ("Léa", "sms")]
    assert sorted(m.to for m in sms_outbox) == ["+33611111111", "+33612345678"]
    assert [m.to for m in mail.outbox] == [["lea.dupont@exemple.fr"]]


def test_a_landline_gets_no_sms(demo, committed, sms_outbox):
    contact = demo.contact(phone="+33472000000", sms=False)
    with committed():
        demo.book(contacts=[contact])
    assert sms_outbox == [] and len(mail.outbox) == 1


def test_nothing_is_enqueued_before_the_transaction_commits(demo, django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        demo.book()
    assert statuses() == [("confirmation", "email", "pending"), ("confirmation", "sms", "pending")]
    assert sms_outbox == [] and mail.outbox == []
    assert len(callbacks) == 1


def test_a_rolled_back_booking_leaves_no_record(demo, sms_outbox):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            demo.book()
            raise RuntimeError("the request failed after booking")
    assert Notification.objects.count() == 0


@pytest.mark.parametrize("level, by_self, soon, expected", [
    (NotificationLevel.ALL, True, False, True),
    (NotificationLevel.OTHERS, True, False, False),
    (NotificationLevel.OTHERS, False, False, True),
    (NotificationLevel.SOON, False, False, False),
    (NotificationLevel.SOON, False, True, True),
    (NotificationLevel.SOON, True, True, False),
    (NotificationLevel.NONE, False, True, False),
])
def test_agents_get_emails_according_to_their_level(demo, committed, level, by_self, soon, expected):
    demo.julien.notification_level = level
    demo.julien.save()
    kwargs = {"booked_by": BookedBy.AGENT, "booked_by_agent": demo.julien} if by_self else {
        "booked_by": BookedBy.CITIZEN, "booked_by_agent": None}
    with committed():
        demo.book(agents=[demo.julien], days=1 if soon else 10, **kwargs)
    to_agent = [m for m in mail.outbox if m.to == [demo.julien.user.email]]
    assert bool(to_agent) is expected
    if expected:
        assert to_agent[0].subject.startswith("Nouveau rendez-vous")
        assert "Léa Dupont" in to_agent[0].body and "/admin/appointments/appointment/" in to_agent[0].body


def test_agents_hear_of_a_citizen_cancelling(demo, committed):
    appointment = demo.book(agents=[demo.camille])
    with committed():
        services.cancel(appointment, actor=BookedBy.CITIZEN)
    [agent_email] = [m for m in mail.outbox if m.to == [demo.camille.user.email]]
    assert agent_email.subject.startswith("Rendez-vous annulé")


# --- exactly once -----------------------------------------------------------------------

def test_the_same_task_run_twice_sends_once(demo, committed, sms_outbox):
    with committed():
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    assert tasks.send_sms.apply(args=[sms.pk]).get() == "skipped"
    assert tasks.send_email.apply(args=[Notification.objects.get(channel="email").pk]).get() == "skipped"
    assert len(sms_outbox) == 1 and len(mail.outbox) == 1
    sms.refresh_from_db()
    assert sms.status == Status.SENT and sms.attempts == 1


def test_the_same_event_signalled_twice_makes_one_record_per_recipient(demo, committed, sms_outbox):
    from appointments import signals

    with committed():
        appointment = demo.book()
        signals.appointment_confirmed.send(sender=type(appointment), appointment=appointment, actor=BookedBy.AGENT,
                                           agent=demo.camille)
    assert Notification.objects.count() == 2
    assert len(sms_outbox) == 1 and len(mail.outbox) == 1


def test_the_database_refuses_a_duplicate_record(demo):
    appointment = demo.book()
    first = Notification.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(appointment=appointment, contact=first.contact, event=first.event,
                                    channel=first.channel, sequence=first.sequence, to=first.to)


@override_settings(SMS_BACKEND=SCRIPTED)
def test_a_provider_failing_then_recovering_sends_once(demo, committed, eager_retries):
    ScriptedSmsBackend.reset([TransientSmsError("503", code=503), TransientSmsError("timeout", code="network")])
    with committed():
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    assert ScriptedSmsBackend.calls == 3 and len(ScriptedSmsBackend.sent) == 1
    assert (sms.status, sms.attempts, sms.error_code) == (Status.SENT, 3, "")
    assert list(sms.status_events.values_list("raw_event", flat=True)) == ["transient_error", "transient_error", "accepted"]


@override_settings(SMS_BACKEND=SCRIPTED)
def test_a_permanent_error_is_recorded_with_its_code_and_not_retried(demo, committed):
    ScriptedSmsBackend.reset([PermanentSmsError("Attempt to send to unsubscribed recipient", code=21610)])
    with committed():
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    assert ScriptedSmsBackend.calls == 1
    assert (sms.status, sms.error_code, sms.attempts) == (Status.FAILED, "21610", 1)


@override_settings(SMS_BACKEND=SCRIPTED)
def test_a_provider_down_for_good_ends_failed_after_the_last_retry(demo, committed, eager_retries):
    ScriptedSmsBackend.reset([TransientSmsError("503", code=503)] * 20)
    with mock.patch.object(tasks.send_sms, "max_retries", 2), committed():
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    assert ScriptedSmsBackend.calls == 3 and ScriptedSmsBackend.sent == []
    assert (sms.status, sms.error_code) == (Status.FAILED, "503")


def test_email_server_refusals_are_sorted_transient_or_permanent():
    import smtplib

    from notifications.mail import classify

    assert classify(smtplib.SMTPDataError(451, b"try later")).transient
    assert not classify(smtplib.SMTPDataError(550, b"no such user")).transient
    assert not classify(smtplib.SMTPRecipientsRefused({"a@b.fr": (550, b"unknown")})).transient
    assert classify(ConnectionRefusedError()).transient
    from anymail.exceptions import AnymailRecipientsRefused, AnymailRequestsAPIError

    import requests

    def esp_error(status):
        response = requests.Response()
        response.status_code, response.reason, response._content = status, "reason", b"{}"
        return AnymailRequestsAPIError(response=response)

    assert not classify(AnymailRecipientsRefused()).transient
    assert classify(esp_error(503)).transient
    assert classify(esp_error(429)).transient
    assert not classify(esp_error(400)).transient


# --- nothing stale ----------------------------------------------------------------------

def test_nothing_is_sent_for_an_appointment_that_has_started(demo, django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        appointment = demo.book(days=1)
    late = appointment.starts_at + timedelta(minutes=1)
    with mock.patch("notifications.delivery.timezone.now", return_value=late):
        for callback in callbacks:
            callback()
    assert sms_outbox == [] and mail.outbox == []
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.CANCELLED}


def test_a_confirmation_still_waiting_when_the_appointment_moves_gives_way_to_the_change(demo, committed, sms_outbox):
    with committed():
        appointment = demo.book()
        services.reschedule(appointment, starts_at=appointment.starts_at + timedelta(days=1), agent=demo.camille)
    assert statuses(contact__isnull=False) == [
        ("change", "email", "sent"), ("change", "sms", "sent"),
        ("confirmation", "email", "cancelled"), ("confirmation", "sms", "cancelled")]
    assert len(sms_outbox) == 1 and "déplacé" in sms_outbox[0].body


def test_withdrawing_consent_cancels_what_is_waiting_on_that_channel(demo, django_capture_on_commit_callbacks, sms_outbox):
    contact = demo.contact()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        demo.book(contacts=[contact])
    contact.record_consent(Channel.SMS, False, source="inbound_sms")
    for callback in callbacks:
        callback()
    assert statuses() == [("confirmation", "email", "sent"), ("confirmation", "sms", "cancelled")]
    assert sms_outbox == []


def test_a_cancellation_is_told_even_though_the_appointment_no_longer_stands(demo, committed, sms_outbox):
    appointment = demo.book()
    with committed():
        services.cancel(appointment, actor=BookedBy.AGENT, agent=demo.camille, reason="Agent absent")
    assert statuses(event=Event.CANCELLATION) == [("cancellation", "email", "sent"), ("cancellation", "sms", "sent")]
    assert ", sur place, annulé. Reprendre RDV : " in sms_outbox[0].body
    assert "Agent absent" in mail.outbox[0].body


# --- recovery ---------------------------------------------------------------------------

def test_a_record_whose_task_was_lost_is_enqueued_again(demo, django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=False):
        demo.book()  # the broker was down: the tasks never left
    later = timezone.now() + STALLED_AFTER + timedelta(minutes=1)
    assert recover_by_age(now=later) == (2, 0)
    assert statuses() == [("confirmation", "email", "sent"), ("confirmation", "sms", "sent")]
    assert len(sms_outbox) == 1


def test_a_record_stuck_mid_send_is_flagged_for_an_agent_not_resent(demo, django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=False):
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    # A worker claimed it, then died before recording the provider's answer.
    Notification.objects.filter(pk=sms.pk).update(status=Status.SENDING, claimed_at=timezone.now())
    assert deliver(sms.pk) is None  # the redelivered task sends nothing: not claimable
    later = timezone.now() + STALLED_AFTER + timedelta(minutes=1)
    requeued, flagged = recover_by_age(now=later)
    sms.refresh_from_db()
    assert flagged == 1 and sms.status == Status.UNCERTAIN
    assert sms_outbox == []


# --- batches (what the reminder sweep enqueues) -------------------------------------------

def pending_sms(demo, count):
    with transaction.atomic():
        for day in range(count):
            demo.book(days=10 + day)
    return list(Notification.objects.filter(channel=Channel.SMS).order_by("pk").values_list("pk", flat=True))


@override_settings(SMS_BACKEND=SCRIPTED)
def test_a_batch_sends_each_record_once_even_when_delivered_twice(demo, django_capture_on_commit_callbacks, eager_retries):
    ScriptedSmsBackend.reset()
    with django_capture_on_commit_callbacks(execute=False):
        ids = pending_sms(demo, 3)
    assert tasks.send_sms_batch.apply(args=[ids]).get() == {"sent": 3}
    assert tasks.send_sms_batch.apply(args=[ids]).get() == {"skipped": 3}  # the broker redelivered it
    assert len(ScriptedSmsBackend.sent) == 3


@override_settings(SMS_BACKEND=SCRIPTED)
def test_a_transient_error_in_a_batch_hands_that_message_to_its_own_retried_task(demo, django_capture_on_commit_callbacks, eager_retries):
    ScriptedSmsBackend.reset([TransientSmsError("503", code=503)])
    with django_capture_on_commit_callbacks(execute=False):
        ids = pending_sms(demo, 3)
    assert tasks.send_sms_batch.apply(args=[ids]).get() == {"retrying": 1, "sent": 2}
    assert len(ScriptedSmsBackend.sent) == 3  # the eager retry ran at once
    assert set(Notification.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.SENT}


def test_many_records_are_enqueued_in_batches_a_few_one_by_one(monkeypatch):
    from notifications import dispatch

    sent = []
    monkeypatch.setattr(tasks.send_sms, "apply_async", lambda args, **kw: sent.append(("sms", args)))
    monkeypatch.setattr(tasks.send_sms_batch, "apply_async", lambda args, **kw: sent.append(("sms_batch", len(args[0]))))
    monkeypatch.setattr(tasks.send_email, "apply_async", lambda args, **kw: sent.append(("email", args)))
    monkeypatch.setattr(tasks.send_email_batch, "apply_async", lambda args, **kw: sent.append(("email_batch", len(args[0]))))
    dispatch.enqueue([(1, "sms"), (2, "email")])
    assert sent == [("sms", (1,)), ("email", (2,))]
    sent.clear()
    dispatch.enqueue([(pk, "sms") for pk in range(250)])
    assert sent == [("sms_batch", 100), ("sms_batch", 100), ("sms_batch", 50)]


@override_settings(SMS_BACKEND=SCRIPTED)
def test_a_batch_meeting_a_provider_down_defers_the_rest_instead_of_waiting_on_each(demo, django_capture_on_commit_callbacks, monkeypatch):
    ScriptedSmsBackend.reset([TransientSmsError("timeout", code="network")] * 3)
    deferred = []
    monkeypatch.setattr(tasks.send_sms_batch, "apply_async",
                        lambda args, kwargs, countdown: deferred.append((args[0], kwargs, countdown)))
    with django_capture_on_commit_callbacks(execute=False):
        ids = pending_sms(demo, 6)
    assert tasks.send_sms_batch.apply(args=[ids]).get() == {"retrying": 3, "deferred": 3}
    # Three tries, then the whole batch goes back to the queue as ONE later batch, soon enough
    # to be delivered within two minutes of the provider's return.
    [(retried, kwargs, countdown)] = deferred
    assert ScriptedSmsBackend.calls == 3 and sorted(retried) == sorted(ids) and kwargs == {"attempt": 1}
    assert 0 < countdown <= 60
    assert set(Notification.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.PENDING}


def test_a_message_that_cannot_be_rendered_fails_visibly_instead_of_hanging(demo, django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=False):
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    with mock.patch("notifications.delivery.render_sms", side_effect=KeyError("service")), pytest.raises(KeyError):
        deliver(sms.pk)
    sms.refresh_from_db()
    assert (sms.status, sms.error_code) == (Status.FAILED, "render")
    assert sms_outbox == []


def test_a_record_flagged_uncertain_while_its_sender_was_slow_ends_sent(demo, django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=False):
        demo.book()
    sms = Notification.objects.get(channel=Channel.SMS)
    real_render = __import__("notifications.content", fromlist=["render_sms"]).render_sms

    def slow_render(notification, appointment):
        # The recovery sweep runs while this sender is still at work (it took "16 minutes").
        recover_by_age(now=timezone.now() + STALLED_AFTER + timedelta(minutes=1))
        assert Notification.objects.get(pk=notification.pk).status == Status.UNCERTAIN
        return real_render(notification, appointment)

    with mock.patch("notifications.delivery.render_sms", side_effect=slow_render):
        assert deliver(sms.pk).status == Status.SENT
    sms.refresh_from_db()
    assert sms.status == Status.SENT and len(sms_outbox) == 1
