"""Faults, with real processes: a Celery worker on Redis reading the test database, the
provider stand-ins out of process. Afterwards every expected notification reached the
stand-ins exactly once — counted there, per recipient — nothing lost, nothing doubled.

The pipeline is at-most-once for one narrow window (notifications/delivery.py): a worker that
dies between handing a message to the provider and recording the answer leaves the record
"sending", later flagged "uncertain" for an agent, never resent blindly. The SIGKILL test
checks exactly that: such records are at most the worker's concurrency, and none of them
reached a recipient twice.
"""

import collections
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from appointments.models import Channel
from notifications import batches
from notifications.models import Notification, Status
from notifications.reminders import sweep_due_reminders

from .servers import IN_CI
from .support.processes import (
    REDIS_URL, celery_beat, celery_worker, flush_redis, free_port, poll, process_env, smtp_server_process, tasks_go_to_broker,
    twilio_standin_process,
)
from .notifying import make_due

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

CONCURRENCY = 2


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def standins():
    with twilio_standin_process(validation="fast") as twilio, smtp_server_process() as smtp:
        yield twilio, smtp


def worker_env(twilio, smtp, **extra):
    # Quick retries, no per-provider rate limit: the faults, not the policy, are under test.
    return process_env(**twilio.settings(), **smtp.settings(), NOTIFICATIONS_RETRY_BACKOFF=1,
                       SMS_RATE_LIMIT="", EMAIL_RATE_LIMIT="", LOG_LEVEL="INFO", **extra)


def due_reminders(demo, count):
    """`count` appointments whose reminder is due now, each with its own contact (so that the
    stand-ins can count per recipient). Their confirmations go out in this process (eager,
    locmem backends), not to the stand-ins."""
    appointments = []
    for i in range(count):
        contact = demo.contact(first_name=f"Usager{i}", phone=f"+336100{i:05d}", email=f"usager{i}@exemple.fr")
        appointments.append(demo.book(contacts=[contact], days=3 + i // 8, hour=9 + i % 8))
    make_due(appointments, timezone.now() - timedelta(minutes=1))
    return appointments


def expected_recipients(appointments):
    phones = {str(a.contacts.get().phone) for a in appointments}
    emails = {a.contacts.get().email for a in appointments}
    return phones, emails


def received(twilio, smtp):
    """How many messages each recipient got at the stand-ins."""
    counts = collections.Counter(m.to for m in twilio.messages)
    counts.update(to for m in smtp.messages for to in m.rcpt_tos)
    return counts


def reminders():
    return Notification.objects.filter(event="reminder", contact__isnull=False)


def settled(worker, timeout=90):
    """Until no reminder is pending or being sent any more, and the worker and the broker's
    queues are idle: nothing left that could still send a message."""
    poll(lambda: not reminders().filter(status__in=[Status.PENDING, Status.SENDING]).exists(), timeout,
               lambda: dict(collections.Counter(reminders().values_list("status", flat=True))))
    worker.wait_idle()


def assert_each_once(twilio, smtp, appointments, allowed_missing=()):
    phones, emails = expected_recipients(appointments)
    counts = received(twilio, smtp)
    doubled = {to: n for to, n in counts.items() if n > 1}
    assert doubled == {}, "told twice"
    missing = (phones | emails) - set(counts) - set(allowed_missing)
    assert missing == set(), "never told"
    assert set(counts) <= phones | emails


# --- the faults ---------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of this test's own, on a free port, with an append-only file as in
    docker-compose.yml, so that it can be restarted without disturbing anyone else's."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rdv-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        poll(self.answers, 10, lambda: "private redis did not start")

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis flushes its append-only file and exits
            self.process.wait(timeout=10)


@pytest.fixture
def reporting_standins(live_server, settings):
    """The stand-ins, the Twilio one slow (0.3 s) and sending its delivery reports to this app,
    as Twilio does: a message in flight when its worker died is settled by its report."""
    with twilio_standin_process(validation="fast", auto_statuses=("sent", "delivered")) as twilio, \
            smtp_server_process() as smtp:
        settings.PUBLIC_BASE_URL = live_server.url
        settings.TWILIO_AUTH_TOKEN = twilio.auth_token
        twilio.set_delay(0.3)
        # The shared cache on Redis, as in production: it keeps the "not yet requested" marks.
        yield twilio, smtp, worker_env(twilio, smtp, PUBLIC_BASE_URL=live_server.url, RECOVERY_SECONDS=5,
                                       CACHE_URL=REDIS_URL)


RECOVERY_BOUND = 120  # seconds: the "within 2 minutes of a worker being up again"


def test_a_worker_killed_mid_drain_is_recovered_within_two_minutes_none_twice(demo, reporting_standins):
    twilio, smtp, env = reporting_standins
    flush_redis()
    appointments = due_reminders(demo, 60)
    with tasks_go_to_broker():
        assert sweep_due_reminders() == 60
        with celery_worker(env, concurrency=CONCURRENCY, name="doomed") as doomed:
            poll(lambda: twilio.stats()["accepted"] >= 10, 60, twilio.stats)
            doomed.kill(signal.SIGKILL)  # the whole group, main process and pool children: a crash
        killed_processes = CONCURRENCY
        assert reminders().filter(status__in=[Status.PENDING, Status.SENDING]).exists()  # the kill landed mid-drain
        twilio.set_delay(0)
        with celery_worker(env, concurrency=CONCURRENCY, name="successor") as successor, celery_beat(env):
            up = time.monotonic()
            # No visibility timeout, no 15-minute sweep: the recovery finds the dead processes by
            # their released locks, enqueues what they had not claimed, and the delivery
            # reports settle what they had in flight.
            poll(lambda: not reminders().filter(status__in=[Status.PENDING, Status.SENDING]).exists(),
                 RECOVERY_BOUND, lambda: dict(collections.Counter(reminders().values_list("status", flat=True))))
            recovered_in = time.monotonic() - up
            successor.wait_idle()
    assert recovered_in < RECOVERY_BOUND
    statuses = collections.Counter(reminders().values_list("status", flat=True))
    in_doubt = collections.Counter(reminders().filter(status=Status.UNCERTAIN).values_list("channel", flat=True))
    # An SMS claimed but not yet requested was sent again; one in flight reached Twilio, whose
    # delivery report settled it: only one caught in the instant between its mark's removal and
    # its request stays in doubt, at most one per killed process.
    assert in_doubt[Channel.SMS] <= killed_processes, (statuses, in_doubt)
    # SMTP sends no report: the emails in flight or answered but not yet recorded stay in doubt
    # for an agent, within the window delivery.py states, each received at most once.
    assert in_doubt[Channel.EMAIL] <= killed_processes * (settings.SEND_CONCURRENCY + batches.RECORD_EVERY), in_doubt
    assert statuses[Status.SENT] + statuses[Status.DELIVERED] + statuses[Status.UNCERTAIN] == 120, statuses
    uncertain_recipients = set(reminders().filter(status=Status.UNCERTAIN).values_list("to", flat=True))
    assert_each_once(twilio, smtp, appointments, allowed_missing=uncertain_recipients)


def test_a_provider_down_45_s_is_caught_up_within_two_minutes_of_its_return_none_twice(demo, standins):
    twilio, smtp = standins
    flush_redis()
    appointments = due_reminders(demo, 40)
    env = worker_env(twilio, smtp, SMS_BREAKER_FAILURES=3, SMS_BREAKER_OPEN_SECONDS=10)
    with tasks_go_to_broker(), celery_worker(env, concurrency=CONCURRENCY) as worker:
        # Down: every request answered 503 Service Unavailable.
        twilio.fail_next(count=10_000, status=503)
        down = time.monotonic()
        assert sweep_due_reminders() == 40
        smtp.wait_for_messages(40, timeout=60)  # email is another provider: it goes on
        poll(lambda: twilio.stats()["failed"] >= 3, 60, twilio.stats)
        assert twilio.stats()["accepted"] == 0
        # The batches that met the dead provider hold nothing: every record is back to pending,
        # waiting for its later batch, none stuck mid-send.
        poll(lambda: not reminders().filter(channel=Channel.SMS, status=Status.SENDING).exists(), 30,
             lambda: "records held by a batch that met a dead provider")
        time.sleep(max(0.0, 45 - (time.monotonic() - down)))  # the outage lasts its 45 s, by the clock
        twilio.reset()
        back = time.monotonic()
        poll(lambda: reminders().filter(channel=Channel.SMS, status=Status.SENT).count() == 40, RECOVERY_BOUND,
             lambda: dict(collections.Counter(reminders().filter(channel=Channel.SMS).values_list("status", flat=True))))
        caught_up_in = time.monotonic() - back
        worker.wait_idle()
    assert caught_up_in < RECOVERY_BOUND
    assert_each_once(twilio, smtp, appointments)


@pytest.fixture
def private_redis():
    # ../shared/ci/services-up installs redis-server: in CI its absence fails, never skips.
    if shutil.which("redis-server") is None and not IN_CI:
        pytest.skip("redis-server is not installed (../shared/ci/services-up installs it)")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


def test_redis_restarted_during_a_sweep_loses_nothing(demo, standins, private_redis, monkeypatch):
    twilio, smtp = standins
    appointments = due_reminders(demo, 30)
    from notifications import planning

    real_enqueue, calls = planning.enqueue, []

    def enqueue_then_redis_goes_down(pairs):
        calls.append(len(pairs))
        if len(calls) == 2:  # Redis stops right when the second batch is handed over
            private_redis.stop()
            threading.Timer(1.5, private_redis.start).start()
        return real_enqueue(pairs)

    monkeypatch.setattr(planning, "enqueue", enqueue_then_redis_goes_down)
    with tasks_go_to_broker(private_redis.url):
        with pytest.raises(OperationalError, match="Connection refused|Error 111"):
            sweep_due_reminders(batch_size=5)  # the broker is gone: the sweep stops there
        assert len(calls) == 2
        poll(private_redis.answers, 10, lambda: "private redis did not come back")
        # The next beat tick sweeps what was not claimed yet.
        rest = sweep_due_reminders(batch_size=5)
        assert 0 < rest < 30
        env = worker_env(twilio, smtp, CELERY_BROKER_URL=private_redis.url)
        with celery_worker(env, concurrency=CONCURRENCY) as worker:
            # Records whose tasks never reached Redis stay pending; the periodic recovery
            # enqueues them again (as if 16 minutes had passed).
            poll(lambda: reminders().filter(status=Status.SENT).count()
                       + reminders().filter(status=Status.PENDING, attempts=0).count() >= 60, 60, twilio.stats)
            worker.wait_idle()
            from notifications.recovery import recover_by_age

            recover_by_age(now=timezone.now() + timedelta(minutes=16))
            settled(worker)
    assert collections.Counter(reminders().values_list("status", flat=True)) == {Status.SENT: 60}
    assert_each_once(twilio, smtp, appointments)


def test_two_beats_at_once_send_each_reminder_once(demo, standins):
    twilio, smtp = standins
    flush_redis()
    appointments = due_reminders(demo, 20)
    # Each beat sends the sweep every 2 s; both have sent it twice before they stop.
    env = worker_env(twilio, smtp, REMINDER_SWEEP_SECONDS=2)
    sent = r"Sending due task send-due-reminders"
    with celery_worker(env, concurrency=CONCURRENCY) as worker:
        with celery_beat(env, max_interval=1, name="beat-a") as a, celery_beat(env, max_interval=1, name="beat-b") as b:
            poll(lambda: all(len(re.findall(sent, beat.log_text())) >= 2 for beat in (a, b)), 60,
                       lambda: (a.log_text()[-2000:], b.log_text()[-2000:]))
        settled(worker)
    assert reminders().count() == 40
    assert_each_once(twilio, smtp, appointments)


def test_providers_failing_for_a_while_then_recovering_send_each_once(demo, standins):
    twilio, smtp = standins
    flush_redis()
    appointments = due_reminders(demo, 12)
    twilio.fail_next(6, status=500)
    twilio.fail_next(4, status=429, code=20429)
    smtp.fail_next(6, code=451)
    with tasks_go_to_broker():
        sweep_due_reminders()
        with celery_worker(worker_env(twilio, smtp), concurrency=CONCURRENCY) as worker:
            settled(worker, timeout=120)
    assert collections.Counter(reminders().values_list("status", flat=True)) == {Status.SENT: 24}
    assert twilio.stats()["failed"] >= 10 and smtp.stats()["failed"] >= 6  # the faults did happen
    assert max(reminders().values_list("attempts", flat=True)) > 1
    assert_each_once(twilio, smtp, appointments)


def test_withdrawing_consent_stops_the_messages_already_queued(demo, standins):
    twilio, smtp = standins
    flush_redis()
    appointments = due_reminders(demo, 4)
    with tasks_go_to_broker():
        sweep_due_reminders()  # 8 tasks wait in Redis, no worker yet
        withdrawn = appointments[0].contacts.get()
        withdrawn.record_consent(Channel.SMS, False, source="inbound_sms")
        with celery_worker(worker_env(twilio, smtp), concurrency=CONCURRENCY) as worker:
            settled(worker)
    counts = received(twilio, smtp)
    assert counts[str(withdrawn.phone)] == 0
    assert counts[withdrawn.email] == 1
    assert reminders().get(contact=withdrawn, channel=Channel.SMS).status == Status.CANCELLED
    assert sum(counts.values()) == 7
