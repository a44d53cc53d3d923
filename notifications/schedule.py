"""When an appointment's reminders are due: the rule, with no database.

A motif's schedule is a list of touches, each so many hours before the start on SMS, email or
both (`ReminderSchedule` in the admin; a motif without one gets the default: one touch
REMINDER_DELAY_HOURS before, on both). For one appointment, `plan()` turns the touches into
due times:

- hours are real hours, counted in UTC: "48 hours before" stays 48 across a DST change;
- quiet hours (REMINDER_QUIET_HOURS, in the appointment's local time): a touch that sends an
  SMS is not due inside them. It moves to REMINDER_QUIET_MARGIN_MINUTES before the window
  opens (20:30 for 21:00-08:00), so that a sweep's queue is through before 21:00. When that
  moment has already passed (a late booking), it goes out when the window closes, provided
  that still leaves REMINDER_MIN_NOTICE_HOURS before the start; otherwise it is skipped. The
  whole touch moves, email included: one touch, one moment;
- late bookings: a touch whose moment has already passed is skipped (the confirmation has
  just said everything); later touches still apply.

The stage of a touch is its hours before the start: what tells two reminders of one
appointment apart, in the planned reminders and in the notifications' unique key.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings

SMS, EMAIL, BOTH = "sms", "email", "sms+email"


def channel_list(channels):
    """"sms+email" -> ["sms", "email"]."""
    return channels.split("+")


@dataclass(frozen=True)
class Touch:
    hours: int  # before the start; the stage
    channels: str = BOTH


@dataclass(frozen=True)
class Planned:
    stage: int
    due_at: datetime  # UTC
    channels: str


def default_touches():
    return [Touch(settings.REMINDER_DELAY_HOURS, BOTH)]


def quiet_window():
    """(start, end) local times of the quiet hours, or None."""
    if not settings.REMINDER_QUIET_HOURS:
        return None
    start, end = (time.fromisoformat(part) for part in settings.REMINDER_QUIET_HOURS.split("-"))
    return None if start == end else (start, end)


def _is_quiet(moment, window):
    start, end = window
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # across midnight (21:00-08:00)


def out_of_quiet_hours(due_at, zone, *, starts_at, now):
    """`due_at` (aware) moved out of the quiet hours of `zone`, or None when no moment fits."""
    window = quiet_window()
    if window is None:
        return due_at
    local = due_at.astimezone(zone)
    if not _is_quiet(local.time(), window):
        return due_at
    start, end = window
    # The day the window containing `local` opened, and the day it closes.
    opened_on = local.date() if start < end or local.time() >= start else local.date() - timedelta(days=1)
    closes_on = opened_on if start < end else opened_on + timedelta(days=1)
    # 21:00 and 08:00 exist on every day in France and overseas (clocks change at night),
    # and the margin is taken in UTC, in real minutes.
    opens = datetime.combine(opened_on, start, tzinfo=zone).astimezone(dt_timezone.utc)
    before = opens - timedelta(minutes=settings.REMINDER_QUIET_MARGIN_MINUTES)
    if before > now:
        return before
    after = datetime.combine(closes_on, end, tzinfo=zone).astimezone(dt_timezone.utc)
    if after > now and after <= starts_at - timedelta(hours=settings.REMINDER_MIN_NOTICE_HOURS):
        return after
    return None


def plan(touches, *, starts_at, zone, now):
    """The reminders to plan for an appointment starting at `starts_at` in `zone`, decided
    at `now` (booking or change): [Planned], earliest first."""
    start = starts_at.astimezone(dt_timezone.utc)
    planned = []
    for touch in sorted(touches, key=lambda t: -t.hours):
        due_at = start - timedelta(hours=touch.hours)
        if SMS in channel_list(touch.channels):
            due_at = out_of_quiet_hours(due_at, zone, starts_at=start, now=now)
        if due_at is None or due_at <= now:
            continue  # passed at booking: the confirmation says it all, a later touch may still apply
        planned.append(Planned(stage=touch.hours, due_at=due_at, channels=touch.channels))
    return sorted(planned, key=lambda p: p.due_at)
