"""Plan the reminders of existing future appointments in the new table, before
appointments.0005 drops `Appointment.reminder_due_at`: each appointment whose reminder was
still due gets the default touch (REMINDER_DELAY_HOURS, SMS and email) at that same moment,
for its current version. Those without one (claimed, or booked too late) get none."""

from django.conf import settings
from django.db import migrations


def plan_existing(apps, schema_editor):
    Appointment = apps.get_model("appointments", "Appointment")
    PlannedReminder = apps.get_model("notifications", "PlannedReminder")
    pending = Appointment.objects.filter(reminder_due_at__isnull=False, status="confirmed").values_list(
        "pk", "sequence", "reminder_due_at").iterator(chunk_size=10_000)
    batch = []
    for pk, sequence, due_at in pending:
        batch.append(PlannedReminder(appointment_id=pk, sequence=sequence, stage=settings.REMINDER_DELAY_HOURS,
                                     due_at=due_at, channels="sms+email", status="planned"))
        if len(batch) >= 10_000:
            PlannedReminder.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    PlannedReminder.objects.bulk_create(batch, ignore_conflicts=True)


def unplan(apps, schema_editor):
    Appointment = apps.get_model("appointments", "Appointment")
    PlannedReminder = apps.get_model("notifications", "PlannedReminder")
    for pk, due_at in PlannedReminder.objects.filter(status="planned").values_list("appointment_id", "due_at"):
        Appointment.objects.filter(pk=pk).update(reminder_due_at=due_at)


class Migration(migrations.Migration):

    dependencies = [("notifications", "0008_reminder_schedule")]
    run_before = [("appointments", "0008_remove_reminder_due_at")]

    operations = [migrations.RunPython(plan_existing, unplan)]
