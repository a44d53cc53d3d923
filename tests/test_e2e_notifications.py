"""End to end, with real processes: PostgreSQL, Redis, a `celery -A rdv worker` started by the
test, the Twilio-compatible stand-in (requests validated against Twilio's OpenAPI spec, signed
status callbacks to this app served by live_server) and a real SMTP server."""

import os
import signal
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from appointments.models import Motif
from notifications.models import Event, Notification, Status
from notifications.reminders import sweep_due_reminders

from .support.dates import french, french_compact, next_offset_change, upcoming
from .support.processes import celery_worker, flush_redis, poll, process_env, tasks_go_to_broker
from .support.smtp_server import SMTPServer
from .support.twilio_standin import TwilioStandin
from .notifying import planned_due

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PARIS = ZoneInfo("Europe/Paris")
GUADELOUPE = ZoneInfo("America/Guadeloupe")


@pytest.fixture
def providers(live_server, settings):
    """The stand-ins, and a worker environment pointed at them and at this app for callbacks."""
    with TwilioStandin(auto_statuses=("sent", "delivered")) as twilio, SMTPServer() as smtp:
        settings.PUBLIC_BASE_URL = live_server.url
        settings.TWILIO_AUTH_TOKEN = twilio.auth_token
        env = process_env(**twilio.settings(from_="RDV"), **smtp.settings(), PUBLIC_BASE_URL=live_server.url,
                          NOTIFICATIONS_RETRY_BACKOFF=1)
        flush_redis()
        yield twilio, smtp, env


def statuses(**filters):
    return sorted(Notification.objects.filter(**filters).values_list("channel", "status"))


def test_a_booking_yields_exactly_the_expected_sms_and_email(demo, providers):
    twilio, smtp, env = providers
    contact = demo.contact(first_name="Anaïs", last_name="N'Diaye")
    starts_at = upcoming(1, 14, 30, zone=PARIS)  # a Tuesday afternoon, weeks ahead
    when = french(starts_at, PARIS)
    with celery_worker(env) as worker, tasks_go_to_broker():
        appointment = demo.book(contacts=[contact], starts_at=starts_at)
        [sms] = twilio.wait_for_messages(1)
        [email] = smtp.wait_for_messages(1)
        poll(lambda: statuses() == [("email", "sent"), ("sms", "delivered")], describe=lambda: "the delivery report")
        worker.wait_idle()  # nothing left that could still arrive
    assert len(twilio.messages) == 1 and len(smtp.messages) == 1

    # From the brand's own sender id (SMS_SENDER_IDS), not the deployment's TWILIO_FROM.
    assert sms.to == "+33612345678" and sms.from_ == "RDV S.P." and sms.num_segments == 1
    assert sms.body == (f"RDV Titres d'identité confirmé le {french_compact(starts_at, PARIS)}, "
                        f"sur place. Infos ou annulation : {appointment.link_url()}")
    record = Notification.objects.get(channel="sms")
    assert sms.status_callback == f"{env['PUBLIC_BASE_URL']}/webhooks/twilio/status?n={record.pk}"
    assert (record.provider_message_id, record.segments) == (sms.sid, 1)

    assert email.to == ["lea.dupont@exemple.fr"] or "lea.dupont@exemple.fr" in str(email.to)
    # (.strip(): Django folds a long encoded Subject right after "Subject:")
    assert email.subject.strip() == f"Rendez-vous confirmé le {when} — Titres d'identité"
    for part in (email.text, email.html):
        for field in (when, "Anaïs", "Demande ou renouvellement de carte nationale",
                      "20 minutes", "215 rue Duguesclin, 69003 Lyon", "Apportez votre pré-demande ANTS",
                      appointment.link_url()):
            assert field in part
    assert "N'Diaye" in email.text and "Titres d'identité" in email.text
    assert "METHOD:PUBLISH" in email.calendar and "SEQUENCE:0" in email.calendar


def day_after_paris_changes_clocks(to_summer, hour, zone):
    """The day after the next change of Paris's clocks (a Sunday), at `hour` in `zone`: its
    reminder, 48 hours before, falls on the other side of the change."""
    day = next_offset_change(PARIS, to_summer=to_summer) + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=zone)


@pytest.mark.parametrize("motif_org, to_summer, hour, zone", [
    ("lyon", True, 9, PARIS),  # the day after the switch to summer time
    ("lyon", False, 9, PARIS),  # the day after the switch back to winter time
    ("guadeloupe", True, 8, GUADELOUPE),  # overseas: Guadeloupe keeps UTC-4 all year
])
def test_a_reminder_arrives_once_48_hours_before(demo, providers, motif_org, to_summer, hour, zone):
    twilio, smtp, env = providers
    starts_at = day_after_paris_changes_clocks(to_summer, hour, zone)
    expected_date = french(starts_at, zone)
    assert expected_date.endswith(f"à {hour}h00")
    organisation = getattr(demo, motif_org)
    motif = Motif.objects.filter(organisation=organisation).first()
    contact = demo.contact(organisation)
    with time_machine.travel(starts_at - timedelta(days=20)):
        appointment = demo.book(motif=motif, contacts=[contact], starts_at=starts_at,
                                agents=[organisation.agents.first()])
    Notification.objects.all().delete()  # the confirmation is not what this test is about
    due = starts_at.astimezone(ZoneInfo("UTC")) - timedelta(hours=48)
    assert planned_due(appointment) == [due]
    with celery_worker(env) as worker, tasks_go_to_broker():
        for moment, expected in ((due - timedelta(minutes=1), 0), (due, 1), (due + timedelta(minutes=1), 0),
                                 (due + timedelta(hours=1), 0)):
            with time_machine.travel(moment, tick=False):
                assert sweep_due_reminders() == expected
        [sms] = twilio.wait_for_messages(1)
        [email] = smtp.wait_for_messages(1)
        poll(lambda: statuses(event=Event.REMINDER) == [("email", "sent"), ("sms", "delivered")], describe=lambda: "reminders")
        worker.wait_idle()
    assert len(twilio.messages) == 1 and len(smtp.messages) == 1
    assert sms.body.startswith("Rappel : RDV ") and sms.num_segments == 1
    assert f" le {french_compact(starts_at, zone)}, sur place." in sms.body
    assert email.subject.strip().startswith(f"Rappel : rendez-vous le {expected_date}")


def test_a_provider_failing_then_recovering_sends_each_message_once(demo, providers):
    twilio, smtp, env = providers
    twilio.fail_next(2, status=503)
    smtp.fail_next(1, code=451)
    with celery_worker(env) as worker, tasks_go_to_broker():
        demo.book()
        poll(lambda: statuses() == [("email", "sent"), ("sms", "delivered")], 30, lambda: "retries")
        worker.wait_idle()
    assert len(twilio.messages) == 1 and len(smtp.messages) == 1
    assert twilio.stats()["failed"] == 2
    sms = Notification.objects.get(channel="sms")
    email = Notification.objects.get(channel="email")
    assert (sms.attempts, email.attempts) == (3, 2)


def test_a_permanent_refusal_is_recorded_and_not_retried(demo, providers):
    twilio, smtp, env = providers
    twilio.reject_recipient("+33612345678", code=21610)
    with celery_worker(env) as worker, tasks_go_to_broker():
        demo.book()
        poll(lambda: ("sms", "failed") in statuses(), describe=lambda: "the refusal")
        worker.wait_idle()
    sms = Notification.objects.get(channel="sms")
    assert (sms.status, sms.error_code, sms.attempts) == (Status.FAILED, "21610", 1)
    assert twilio.messages == []


def test_a_worker_killed_mid_send_sends_nothing_twice(demo, providers):
    """The pool process dies while Twilio is answering. acks_late + reject_on_worker_lost
    put the task back; the redelivered task finds the record claimed and sends nothing;
    Twilio's status callback (naming the record) then settles it as delivered."""
    twilio, smtp, env = providers
    twilio.set_delay(2)
    with celery_worker(env, concurrency=1) as worker, tasks_go_to_broker():
        demo.book(contacts=[demo.contact(email="", email_consent=False)])
        poll(lambda: twilio.stats()["requests"] >= 1, describe=lambda: "the request to Twilio")
        children = [pid for pid in worker.group_pids() if pid != worker.pid]
        assert children, "no pool process to kill"
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        worker.wait_for_log(r"notification \d+: not claimable", timeout=30)
        poll(lambda: statuses() == [("sms", "delivered")], 15, lambda: "the late delivery report")
        worker.wait_idle()
    assert len(twilio.messages) == 1
    record = Notification.objects.get()
    assert record.provider_message_id == twilio.messages[0].sid


def test_two_sweeps_racing_send_each_due_reminder_once(demo, providers):
    """Thirty reminders due at once, two sweeps (two beats) at the same moment: the records
    go out in batch tasks through a real worker, each exactly once."""
    import threading

    from django.db import connection

    twilio, smtp, env = providers
    base = upcoming(0, 8, zone=PARIS)  # a Monday morning, weeks ahead
    with time_machine.travel(base - timedelta(days=20)):
        for i in range(30):
            demo.book(contacts=[demo.contact(phone=f"+336{i:08d}", email=f"usager{i}@exemple.fr")],
                      starts_at=base + timedelta(minutes=30 * i))
    Notification.objects.all().delete()
    now = base + timedelta(minutes=30 * 29) - timedelta(hours=48)  # the last one's reminder is due
    counts = []

    def sweep(barrier):
        barrier.wait()
        counts.append(sweep_due_reminders(now=now, batch_size=15))
        connection.close()

    with celery_worker(env, concurrency=2) as worker, tasks_go_to_broker():
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=sweep, args=(barrier,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        twilio.wait_for_messages(30, timeout=30)
        smtp.wait_for_messages(30, timeout=30)
        poll(lambda: not Notification.objects.filter(status__in=["pending", "sending"]).exists(), 30,
             lambda: "every record handled")
        worker.wait_idle()
        assert worker.wait_for_log(r"notifications\.send_sms_batch\[.*\] succeeded")
    assert sum(counts) == 30
    assert len(twilio.messages) == 30 and len(smtp.messages) == 30
    assert len({m.to for m in twilio.messages}) == 30
    assert Notification.objects.filter(event=Event.REMINDER, status__in=["sent", "delivered"]).count() == 60


def test_a_stop_reply_through_twilio_withdraws_consent_and_cancels_what_waits(demo, providers, live_server):
    from appointments.models import Contact

    twilio, smtp, env = providers
    contact = demo.contact()
    demo.book(contacts=[contact])
    # As if its SMS were still waiting for a busy worker:
    Notification.objects.filter(channel="sms").update(status=Status.PENDING)
    status = twilio.send_inbound(f"{live_server.url}/webhooks/twilio/inbound", from_="+33612345678", body="Stop")
    assert status == 200
    contact = Contact.objects.get(pk=contact.pk)
    assert contact.sms_consent is False and contact.email_consent is True
    assert Notification.objects.get(channel="sms").status == Status.CANCELLED
    forged = TwilioStandin(auth_token="not-the-token")
    assert forged.post_signed(f"{live_server.url}/webhooks/twilio/inbound", {"From": "+33612345678", "Body": "STOP"}) == 403
