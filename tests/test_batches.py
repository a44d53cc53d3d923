"""A batch task's run (notifications/batches.py) when it ends early: what its sending threads
are left with."""

import threading

import pytest
from django.db import OperationalError

from notifications import batches, delivery, senders
from notifications.batches import Batch

from .test_notification_pipeline import pending_sms


def test_a_batch_ending_on_an_error_waits_for_its_sends_in_flight_before_closing_their_connections(
        demo, django_capture_on_commit_callbacks, monkeypatch, settings):
    settings.SEND_CONCURRENCY = 2
    with django_capture_on_commit_callbacks(execute=False):
        ids = pending_sms(demo, 3)
    monkeypatch.setattr(senders, "network_bound", lambda channel: True)  # sent from the sending threads
    release, finished, failed, closed = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    closed_after_the_send = []

    def send(pk, channel, message, segments, organisation, route, senders):
        if pk == ids[0]:  # held in flight until the helper below lets it go
            assert release.wait(timeout=30)
            finished.set()
        return {"provider": "scripted", "provider_message_id": f"m{pk}", "segments": segments, "subject": "",
                "body": message.body}

    claims = []
    claim_many = delivery.claim_many

    def claim_then_lose_the_database(chunk, now, worker=""):
        claims.append(chunk)
        if len(claims) == 2:  # the second chunk: the first one's first send is still in flight
            failed.set()
            raise OperationalError("the database went away")
        return claim_many(chunk, now, worker)

    close = senders.SendingThreads.close

    def observed_close(threads):
        closed_after_the_send.append(finished.is_set())
        closed.set()
        close(threads)

    def helper():
        # Gives a close made too early the chance to be seen, then lets the send finish. The
        # verdict is the order observed, not this wait.
        failed.wait(timeout=30)
        closed.wait(timeout=1)
        release.set()

    monkeypatch.setattr(batches, "send", send)
    monkeypatch.setattr(delivery, "claim_many", claim_then_lose_the_database)
    monkeypatch.setattr(senders.SendingThreads, "close", observed_close)
    letting_go = threading.Thread(target=helper)
    letting_go.start()
    try:
        with pytest.raises(OperationalError):
            Batch("sms", ids).run()
    finally:
        release.set()
        letting_go.join()
    assert claims == [ids[:2], ids[2:]]
    assert closed_after_the_send == [True]


def test_the_sending_threads_never_open_a_database_connection(demo, django_capture_on_commit_callbacks, monkeypatch,
                                                              settings, sms_outbox):
    """Every database read stays in the task's thread (notifications/senders.py): a sending
    thread that resolved an organisation's SMS route itself opened a connection of its own,
    kept for the life of the process: SEND_CONCURRENCY of them per worker process."""
    from django.db.backends.signals import connection_created

    from notifications.models import OrganisationSmsRoute

    settings.SEND_CONCURRENCY = 4
    OrganisationSmsRoute.objects.create(organisation=demo.lyon, providers="locmem")
    with django_capture_on_commit_callbacks(execute=False):
        ids = pending_sms(demo, 6)
    monkeypatch.setattr(senders, "network_bound", lambda channel: True)  # sent from the sending threads
    opened_by = []

    def opened(sender, connection, **kwargs):
        opened_by.append(threading.current_thread().name)

    connection_created.connect(opened)
    try:
        counts = Batch("sms", ids).run()
    finally:
        connection_created.disconnect(opened)
    assert counts == {"sent": 6}
    assert [name for name in opened_by if name.startswith("send")] == []
