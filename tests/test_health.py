"""The deep health check, `/healthz?deep=1` (notifications/health.py): 503 when the reminder sweep
has not run for HEALTH_SWEEP_MAX_SECONDS, when a notification has waited to go out for more than
HEALTH_PENDING_MAX_SECONDS, or when every SMS provider's breaker is open. Unit tests of each
condition, then a real Celery beat and worker."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from notifications.errors import ProviderUnavailable
from notifications.health import REMINDER_SWEEP, record_sweep
from notifications.models import Heartbeat, Notification, Status
from notifications.reminders import sweep_due_reminders
from notifications.sms.breaker import Breaker

from .support.processes import celery_beat, celery_worker, flush_redis, poll, process_env

DEEP = "/healthz?deep=1"


def deep(client):
    response = client.get(DEEP)
    return response.status_code, response.json()


@pytest.fixture
def now(time_machine):
    """A frozen "now", so that ages are exact."""
    moment = timezone.now().replace(microsecond=0)
    time_machine.move_to(moment, tick=False)
    return moment


@pytest.fixture
def healthy(db, now):
    """A sweep that just ended, nothing waiting, the one SMS provider closed."""
    record_sweep(now)
    return now


def pending_notifications(demo, django_capture_on_commit_callbacks):
    """A booking's confirmation records, left pending (their tasks never run)."""
    with django_capture_on_commit_callbacks(execute=False):
        demo.book()
    records = Notification.objects.filter(status=Status.PENDING)
    assert records.exists()
    return records


# --- The answer ------------------------------------------------------------------------------


def test_deep_check_is_200_when_the_pipeline_moves(client, healthy):
    status, body = deep(client)
    assert status == 200
    assert body == {
        "status": "ok", "database": True, "broker": True, "reminder_sweep": True,
        "oldest_pending_notification": True, "sms_providers": True, "failing": [],
        "age_seconds": {"reminder_sweep": 0, "oldest_pending_notification": 0},
    }


def test_liveness_alone_does_not_look_at_the_pipeline(client, db, now):
    # No sweep ever recorded: the deep check fails, liveness does not.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "broker": True}
    assert deep(client)[0] == 503


def test_no_proxy_or_browser_may_keep_the_answer(client, healthy):
    response = client.get(DEEP)
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert client.post(DEEP).status_code == 405


def test_an_anonymous_caller_learns_check_names_and_ages_only(client, demo, django_capture_on_commit_callbacks, now,
                                                              settings):
    """Public (load balancers and monitors probe it without a login): no provider name, no count,
    no record, no address, whatever fails."""
    settings.SMS_BACKENDS = ["twilio", "brevo"]
    for provider in ("twilio", "brevo"):
        Breaker(provider).failure(ProviderUnavailable("402 no credits", code="not_enough_credits"))
    pending_notifications(demo, django_capture_on_commit_callbacks).update(created_at=now - timedelta(hours=1))
    response = client.get(DEEP)
    assert response.status_code == 503
    text = response.content.decode()
    for secret in ("twilio", "brevo", "credits", "+336", "@", "lea", "Dupont"):
        assert secret.lower() not in text.lower()
    assert set(response.json()) == {"status", "database", "broker", "reminder_sweep", "oldest_pending_notification",
                                    "sms_providers", "failing", "age_seconds"}


# --- The reminder sweep ------------------------------------------------------------------------


def test_a_sweep_older_than_five_minutes_fails_the_check(client, healthy, time_machine):
    time_machine.shift(300)
    assert deep(client)[0] == 200  # at the limit
    time_machine.shift(1)
    status, body = deep(client)
    assert status == 503
    assert body["failing"] == ["reminder_sweep"]
    assert body["age_seconds"]["reminder_sweep"] == 301


def test_a_sweep_never_recorded_fails_the_check(client, db, now):
    status, body = deep(client)
    assert status == 503 and body["failing"] == ["reminder_sweep"]
    assert body["age_seconds"]["reminder_sweep"] is None


def test_the_limit_is_a_setting(client, healthy, time_machine, settings):
    settings.HEALTH_SWEEP_MAX_SECONDS = 900
    time_machine.shift(600)
    assert deep(client)[0] == 200


def test_each_sweep_records_its_end_in_one_row(db, now, time_machine):
    sweep_due_reminders()
    assert Heartbeat.objects.get(name=REMINDER_SWEEP).at == now
    time_machine.shift(60)
    sweep_due_reminders()  # the send_reminders command and beat's task run exactly this
    assert list(Heartbeat.objects.values_list("name", "at")) == [(REMINDER_SWEEP, now + timedelta(seconds=60))]


def test_a_sweep_that_fails_records_nothing(db, now, monkeypatch):
    from notifications import reminders

    def broken(now, batch_size):
        raise RuntimeError("database gone")

    monkeypatch.setattr(reminders, "claim_batch", broken)
    with pytest.raises(RuntimeError):
        sweep_due_reminders()
    assert not Heartbeat.objects.exists()


# --- The oldest pending notification -------------------------------------------------------------


def test_a_notification_waiting_over_ten_minutes_fails_the_check(client, healthy, demo,
                                                                  django_capture_on_commit_callbacks):
    records = pending_notifications(demo, django_capture_on_commit_callbacks)
    records.update(created_at=healthy - timedelta(seconds=600))
    assert deep(client)[0] == 200  # at the limit
    records.filter(pk=records.order_by("pk").first().pk).update(created_at=healthy - timedelta(seconds=601))
    status, body = deep(client)
    assert status == 503
    assert body["failing"] == ["oldest_pending_notification"]
    assert body["age_seconds"]["oldest_pending_notification"] == 601


def test_a_record_released_for_a_retry_counts_from_its_creation(client, healthy, demo,
                                                                django_capture_on_commit_callbacks):
    """A transient error puts the record back to pending and moves updated_at (so does the
    recovery sweep): the message has still been waiting since it was created."""
    record = pending_notifications(demo, django_capture_on_commit_callbacks).first()
    Notification.objects.filter(pk=record.pk).update(created_at=healthy - timedelta(minutes=30), attempts=3,
                                                     error_code="503")
    assert Notification.objects.get(pk=record.pk).updated_at == healthy  # just released
    status, body = deep(client)
    assert status == 503 and body["age_seconds"]["oldest_pending_notification"] == 1800


def test_only_pending_records_count(client, healthy, demo, django_capture_on_commit_callbacks):
    records = pending_notifications(demo, django_capture_on_commit_callbacks)
    records.update(created_at=healthy - timedelta(days=2))
    for status in (Status.SENDING, Status.SENT, Status.FAILED, Status.UNCERTAIN, Status.CANCELLED):
        records.update(status=status)
        assert deep(client)[0] == 200, status


@pytest.mark.postgres
def test_the_oldest_pending_record_is_read_through_its_partial_index(db):
    # On the few rows of a test table a sequential scan costs less: forbid it, so that the plan
    # says whether the index can serve the query at all (as tests/test_notification_indexes.py).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = (Notification.objects.filter(status=Status.PENDING).order_by("created_at")
                .values_list("created_at", flat=True)[:1].explain())
    assert "notification_pending_age_idx" in plan


# --- The SMS providers ---------------------------------------------------------------------------


def test_every_provider_breaker_open_fails_the_check(client, healthy, settings, time_machine):
    settings.SMS_BACKENDS = ["twilio", "brevo"]
    Breaker("twilio").failure(ProviderUnavailable("402", code="402"))
    assert deep(client)[0] == 200  # brevo takes the messages
    Breaker("brevo").failure(ProviderUnavailable("402", code="402"))
    status, body = deep(client)
    assert status == 503 and body["failing"] == ["sms_providers"]
    time_machine.shift(settings.SMS_BREAKER_OPEN_SECONDS + 1)
    assert deep(client)[0] == 200  # half-open: a probe may go through


def test_a_single_provider_with_its_breaker_open_fails_the_check(client, healthy):
    """With one provider, an open breaker says the provider is failing (and holds its messages)."""
    Breaker("locmem").failure(ProviderUnavailable("402", code="402"))
    assert deep(client)[1]["failing"] == ["sms_providers"]


# --- What cannot be read fails -------------------------------------------------------------------


def test_the_database_down_fails_every_check_that_reads_it(client, healthy, monkeypatch):
    from rdv import views

    monkeypatch.setattr(views, "_database_ok", lambda: False)
    status, body = deep(client)
    assert status == 503
    assert body["failing"] == ["database", "reminder_sweep", "oldest_pending_notification"]
    assert body["age_seconds"] == {"reminder_sweep": None, "oldest_pending_notification": None}


def test_a_cache_that_cannot_be_read_fails_the_providers_check(client, healthy, monkeypatch):
    from notifications import health

    def unreachable(names):
        raise ConnectionError("redis down")

    monkeypatch.setattr(health, "breaker_states", unreachable)
    assert deep(client)[1]["failing"] == ["sms_providers"]


# --- With a real beat ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_deep_check_fails_while_beat_is_stopped_and_recovers_once_it_sweeps(client):
    flush_redis()
    env = process_env(REMINDER_SWEEP_SECONDS="1")
    sweep = Heartbeat.objects.filter(name=REMINDER_SWEEP)
    with celery_worker(env):
        with celery_beat(env, max_interval=1) as beat:
            poll(lambda: deep(client)[0] == 200, 60, lambda: (deep(client), beat.log_text()[-2000:]))
        # Beat stopped. Six minutes later (this process's clock only), its last sweep is too old.
        with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=True):
            status, body = deep(client)
        assert status == 503 and body["failing"] == ["reminder_sweep"]
        assert body["age_seconds"]["reminder_sweep"] >= 360
        # As if those six minutes had passed: nothing sweeps, so the check stays failing ...
        stale = timezone.now() - timedelta(minutes=6)
        sweep.update(at=stale)
        assert deep(client)[0] == 503
        # ... until beat runs again and its sweep goes through the worker.
        with celery_beat(env, max_interval=1, name="beat-again") as beat:
            poll(lambda: deep(client)[0] == 200, 60, lambda: (deep(client), beat.log_text()[-2000:]))
            assert "Sending due task send-due-reminders" in beat.log_text()
    assert sweep.get().at > stale + timedelta(minutes=5)


def test_a_territory_whose_every_provider_is_open_fails_the_check_while_the_mainland_sends(client, healthy, settings):
    settings.SMS_BACKENDS = ["twilio"]
    settings.SMS_BACKENDS_BY_TERRITORY = "America/Guadeloupe=brevo"
    Breaker("brevo").failure(ProviderUnavailable("402", code="402"))
    assert deep(client)[1]["failing"] == ["sms_providers"]  # Guadeloupe's SMS are held
    settings.SMS_BACKENDS_BY_TERRITORY = "America/Guadeloupe=brevo,twilio"
    assert deep(client)[0] == 200  # twilio takes them over


def test_an_organisation_route_whose_every_provider_is_open_fails_the_check(client, healthy, settings, demo):
    from notifications.models import OrganisationSmsRoute

    settings.SMS_BACKENDS = ["twilio"]
    # Both providers configured on this server (a route's provider that is not is passed over).
    settings.BREVO_API_KEY, settings.BREVO_WEBHOOK_SECRET = "key", "user:password"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM = "AC" + "0" * 32, "token", "RDV"
    route = OrganisationSmsRoute.objects.create(organisation=demo.lyon, providers="brevo")
    Breaker("brevo").failure(ProviderUnavailable("402", code="402"))
    assert deep(client)[1]["failing"] == ["sms_providers"]
    route.providers = "brevo,twilio"
    route.save()
    assert deep(client)[0] == 200
    settings.BREVO_API_KEY = ""  # not configured here: the route falls back to the default one
    route.providers = "brevo"
    route.save()
    assert deep(client)[0] == 200
