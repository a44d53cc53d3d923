"""Helpers for the notification tests (their fixtures: tests/support/fixtures.py)."""

from notifications.sms.backends.base import BaseSmsBackend, SmsResult


class ScriptedSmsBackend(BaseSmsBackend):
    """An SMS backend whose next answers a test scripts: errors to raise, then success."""

    name = "scripted"
    script = []  # exceptions to raise, one per call, before succeeding
    sent = []
    calls = 0

    def send_one(self, message):
        type(self).calls += 1
        if self.script:
            raise self.script.pop(0)
        self.sent.append(message)
        return SmsResult(message=message, message_id=f"scripted-{len(self.sent)}")

    @classmethod
    def reset(cls, script=()):
        cls.script, cls.sent, cls.calls = list(script), [], 0


def planned_due(appointment):
    """When the appointment's still planned reminders are due (UTC), earliest first."""
    from notifications.models import PlannedReminder, ReminderState

    return list(PlannedReminder.objects.filter(appointment=appointment, status=ReminderState.PLANNED)
                .order_by("due_at").values_list("due_at", flat=True))


def make_due(appointments, when):
    """Make the still planned reminders of these appointments due at `when`."""
    from notifications.models import PlannedReminder, ReminderState

    return PlannedReminder.objects.filter(appointment__in=appointments, status=ReminderState.PLANNED).update(due_at=when)


class OtherScriptedSmsBackend(ScriptedSmsBackend):
    """A second scripted provider (its own name, script and breaker), for routes of two."""

    name = "scripted-other"
    script = []
    sent = []
    calls = 0
