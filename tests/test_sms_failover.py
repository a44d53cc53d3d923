"""SMS_BACKENDS and the circuit breakers: the next provider takes over while one is failing,
never both for one message, and traffic returns when the first works again. Unit tests of the
breaker, then real processes (a Celery worker, Redis shared as the breakers' store, the Twilio
and Brevo stand-ins)."""

from datetime import datetime, timezone

import pytest

from notifications.errors import ProviderUnavailable, TransientDeliveryError
from notifications.models import Notification, SmsProviderEvent, Status
from notifications.sms.breaker import Breaker

from .support.processes import celery_worker, poll, tasks_go_to_broker


@pytest.fixture
def breaker_settings(settings, db):
    settings.SMS_BREAKER_FAILURES = 3
    settings.SMS_BREAKER_OPEN_SECONDS = 60
    return settings


def test_transient_failures_in_a_row_open_the_breaker_and_a_success_resets_the_count(breaker_settings):
    breaker = Breaker("twilio")
    error = TransientDeliveryError("503", code="20500")
    assert not breaker.failure(error) and not breaker.failure(error)
    breaker.success()  # not in a row any more
    assert not breaker.failure(error) and not breaker.failure(error)
    assert breaker.state() == "closed" and breaker.allow()
    assert breaker.failure(error) is True
    assert breaker.state() == "open" and not breaker.allow()
    assert list(SmsProviderEvent.objects.values_list("provider", "kind")) == [("twilio", "failover")]


def test_credits_exhausted_open_the_breaker_at_once(breaker_settings):
    assert Breaker("brevo").failure(ProviderUnavailable("no credits", code="not_enough_credits")) is True
    assert Breaker("brevo").state() == "open"
    assert SmsProviderEvent.objects.get().kind == "credits"


def test_half_open_lets_exactly_one_probe_through_then_closes_on_success(breaker_settings, time_machine):
    time_machine.move_to(datetime.now(timezone.utc), tick=False)
    breaker = Breaker("twilio")
    breaker.failure(ProviderUnavailable("402", code="402"))
    time_machine.shift(61)
    assert breaker.state() == "half_open"
    assert [breaker.allow() for _ in range(3)] == [True, False, False]  # one probe at a time
    breaker.success()
    assert breaker.state() == "closed" and breaker.allow()
    assert list(SmsProviderEvent.objects.order_by("id").values_list("kind", flat=True)) == ["credits", "recovered"]


def test_a_failed_probe_opens_the_breaker_again(breaker_settings, time_machine):
    time_machine.move_to(datetime.now(timezone.utc), tick=False)
    breaker = Breaker("twilio")
    breaker.failure(ProviderUnavailable("402", code="402"))
    time_machine.shift(61)
    assert breaker.allow()
    breaker.failure(TransientDeliveryError("503", code="20500"))
    assert breaker.state() == "open" and not breaker.allow()


# --- Real processes ------------------------------------------------------------------------------

@pytest.fixture
def two_providers(twilio_and_brevo):
    """Twilio then Brevo, breakers shared with the worker through Redis."""
    twilio, brevo, env = twilio_and_brevo
    return twilio, brevo, env(SMS_BACKENDS="twilio,brevo", SMS_BREAKER_FAILURES=2, SMS_BREAKER_OPEN_SECONDS=3)


def book(demo, first, count):
    """`count` bookings, each for its own citizen and number: one SMS each."""
    for index in range(first, first + count):
        contact = demo.contact(first_name=f"Usager{index}", phone=f"+336123456{index:02d}", email="", email_consent=False)
        demo.book(contacts=[contact], days=7 + index)


def sms_records():
    return list(Notification.objects.filter(channel="sms").order_by("pk"))


def assert_each_sent_once(twilio, brevo):
    """Every SMS record was taken by exactly one provider, the one recorded on it."""
    taken = {("twilio", m.to): m.sid for m in twilio.messages}
    taken.update({("brevo", m.to): str(m.message_id) for m in brevo.messages})
    records = sms_records()
    assert len(twilio.messages) + len(brevo.messages) == len(records)  # none twice
    assert len({m.to for m in twilio.messages} | {m.to for m in brevo.messages}) == len(records)
    for record in records:
        assert record.status == Status.SENT, (record.pk, record.status, record.error_code)
        assert taken[(record.provider, record.to)] == record.provider_message_id


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_second_provider_takes_over_while_the_first_fails_and_traffic_returns(demo, two_providers):
    twilio, brevo, env = two_providers
    with celery_worker(env, concurrency=2) as worker, tasks_go_to_broker():
        # 1. Twilio answers 503: after two failures its breaker opens, Brevo takes every message.
        twilio.fail_next(1000, status=503)
        book(demo, 0, 4)
        poll(lambda: all(r.status == Status.SENT for r in sms_records()), timeout=60, describe=lambda: [
            (r.pk, r.status, r.provider, r.error_code) for r in sms_records()])
        worker.wait_idle()
        assert_each_sent_once(twilio, brevo)
        assert {r.provider for r in sms_records()} == {"brevo"} and twilio.stats()["accepted"] == 0
        assert 2 <= twilio.stats()["failed"] <= 3  # the breaker stopped the attempts
        assert SmsProviderEvent.objects.filter(provider="twilio", kind="failover").count() == 1

        # 2. Twilio works again: once its breaker's period is over, one message probes it (any
        # other message meanwhile goes on to Brevo: one probe at a time); the probe's success
        # closes the breaker and traffic returns.
        twilio.reset()
        poll(lambda: Breaker("twilio").state() != "open", timeout=10, describe=lambda: "the breaker's period")
        book(demo, 4, 1)
        poll(lambda: twilio.stats()["accepted"] == 1, timeout=30, describe=lambda: (twilio.stats(), Breaker("twilio").opened(), [(r.status, r.provider, r.error_code) for r in sms_records()]))
        worker.wait_idle()
        assert Breaker("twilio").state() == "closed"
        book(demo, 5, 2)
        poll(lambda: twilio.stats()["accepted"] == 3, timeout=30, describe=lambda: (twilio.stats(), [(r.status, r.provider) for r in sms_records()]))
        worker.wait_idle()
        assert_each_sent_once(twilio, brevo)
        assert [r.provider for r in sms_records()[4:]] == ["twilio", "twilio", "twilio"]

        # 3. Twilio out of credits (402): its breaker opens at the first answer, Brevo takes over.
        twilio.fail_next(1000, status=402)
        book(demo, 7, 3)
        poll(lambda: all(r.status == Status.SENT for r in sms_records()), timeout=60, describe=lambda: [
            (r.pk, r.status, r.provider, r.error_code) for r in sms_records()])
        worker.wait_idle()
    assert_each_sent_once(twilio, brevo)
    assert [r.provider for r in sms_records()[7:]] == ["brevo"] * 3
    assert twilio.stats()["failed"] <= 4  # one more 402 (a second at most, racing the first)
    assert SmsProviderEvent.objects.filter(provider="twilio", kind="credits").exists()
