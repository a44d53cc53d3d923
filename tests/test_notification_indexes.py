"""The indexes of notifications_notification: each one serves a query, and none is there that
no query uses. Every status change writes a new entry in every index of the table (status is
indexed, so no update is HOT): an index nobody reads is paid for four or five times per
message. Plans measured on 330,000 records: README, "Notifications" (Indexes)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import recovery, status
from notifications.models import Notification
from notifications.sms.signals import SmsStatusEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# Each index and the queries it serves. A new index comes with the query that needs it (and
# its plan); one that no query needs any more goes, with its line here.
EXPECTED = {
    # Claims, loads and outcomes by id (delivery.py), the status reports' updates (status.py),
    # the admin's change page, Django's deletes.
    "notifications_notification_pkey",
    # Never twice (planning.save_and_enqueue, ON CONFLICT DO NOTHING); also the marks' lookup
    # of citizens' messages by appointment (marks.failed_messages) and the admin's resend
    # (the siblings of a message).
    "notification_once_per_contact",
    # Never twice, for agents; also what deleting an agent reads (Django's cascade and
    # PostgreSQL's foreign-key check): the agent column has no index of its own.
    "notification_once_per_agent",
    # The recovery sweep (recovery.recover_stalled): pending records not touched for a while,
    # records still sending since a claim long ago. Partial: only records in flight.
    "notification_status_age_idx",
    # The status reports find their record by the provider's message id (status.py: SMS
    # webhooks, anymail tracking).
    "notification_provider_id_idx",
    # The deep health check's oldest pending message, by creation (health.py). Partial: only
    # pending rows.
    "notification_pending_age_idx",
    # The appointment's messages: its admin page, save_and_enqueue's pending records, the
    # retention pass's join, deleting an appointment.
    "notifications_notification_appointment_id_82e6baab",
    # The contact's messages: consent withdrawn (receivers.py), the contact's admin page, the
    # retention pass for anonymised contacts, deleting a contact.
    "notifications_notification_contact_id_3a940aaa",
}


def indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'notifications_notification'")
        return dict(cursor.fetchall())


def test_the_table_has_only_the_indexes_a_query_uses():
    found = indexes()
    unused = sorted(set(found) - EXPECTED)
    missing = sorted(EXPECTED - set(found))
    assert not unused, f"indexes no query is known to use (add the query to EXPECTED, or drop them): {unused}"
    assert not missing, f"indexes the queries rely on are gone: {missing}"
    # Django adds a varchar_pattern_ops copy (*_like) to every CharField with db_index=True.
    assert not [name for name, definition in found.items() if "pattern_ops" in definition]


def captured(run):
    """The SQL statements on the notifications table that `run` makes, as executed."""
    with CaptureQueriesContext(connection) as queries:
        run()
    return [q["sql"] for q in queries.captured_queries if "notifications_notification" in q["sql"]]


def plan(sql):
    """The plan PostgreSQL makes when a sequential scan is its last resort: whether an index
    can serve the query at all, independent of how few rows the test table holds."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        text = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
    return text


def sms_report():
    status.sms_notification(SmsStatusEvent(provider="twilio", message_id="SM0123", status="delivered",
                                           raw_status="delivered"))


@pytest.mark.parametrize("run, index", [
    (sms_report, "notification_provider_id_idx"),
    # Pending records: either partial index holds only records in flight (the planner picks).
    (lambda: recovery.recover_by_age(timezone.now()), ("notification_status_age_idx", "notification_pending_age_idx")),
    # The dead workers' claims: records still sending (the lease table is read apart).
    (lambda: list(Notification.objects.filter(status="sending").exclude(claimed_by="")
                  .values_list("claimed_by", flat=True).distinct()), "notification_status_age_idx"),
    (lambda: list(Notification.objects.filter(recipient_agent_id=1).values_list("pk")), "notification_once_per_agent"),
], ids=["status report by provider id", "recovery sweep", "dead workers' claims", "an agent's records (deleting the agent)"])
def test_the_less_obvious_queries_go_through_their_index(run, index):
    statements = captured(run)
    assert statements
    indexes = (index,) if isinstance(index, str) else index
    for sql in statements:
        explained = plan(sql)
        assert any(name in explained for name in indexes), explained
        assert "Seq Scan" not in explained, explained
