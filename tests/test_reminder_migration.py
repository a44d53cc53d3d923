"""Migration notifications.0009: appointments whose reminder was still due keep it, as a
planned reminder, before appointments.0008 drops reminder_due_at."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("appointments", "0007_dsfr_site_config"), ("notifications", "0007_sms_provider_events")]
AFTER = [("appointments", "0008_remove_reminder_due_at"), ("notifications", "0009_plan_existing_reminders")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_future_reminders_are_planned(demo):
    appointment = demo.book(days=10)
    later = demo.book(days=11)
    due = appointment.starts_at - timedelta(hours=48)
    try:
        apps = migrate(BEFORE)
        Appointment = apps.get_model("appointments", "Appointment")
        Appointment.objects.filter(pk=appointment.pk).update(reminder_due_at=due)
        Appointment.objects.filter(pk=later.pk).update(reminder_due_at=None)  # already claimed
        apps = migrate(AFTER)
        PlannedReminder = apps.get_model("notifications", "PlannedReminder")
        rows = list(PlannedReminder.objects.values_list("appointment_id", "stage", "due_at", "channels", "status"))
        assert rows == [(appointment.pk, 48, due, "sms+email", "planned")]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
