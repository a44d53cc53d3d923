"""A reminder schedule per motif: the rule as a table (no database), then the planned
reminders kept in step with bookings, moves and cancellations, and the sweep sending each
touch once on its own channels."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from appointments import services
from appointments.models import BookedBy
from notifications.models import Event, Notification, PlannedReminder, ReminderSchedule, ReminderState
from notifications.reminders import sweep_due_reminders
from notifications.schedule import BOTH, EMAIL, SMS, Touch, plan

from .notifying import planned_due

PARIS = ZoneInfo("Europe/Paris")
GUADELOUPE = ZoneInfo("America/Guadeloupe")
REUNION = ZoneInfo("Indian/Reunion")
UTC = ZoneInfo("UTC")


def local(*args, zone=PARIS):
    return datetime(*args, tzinfo=zone)


def planned(touches, starts_at, now, zone=PARIS):
    """[(stage, local due time, channels)] as plan() decides them."""
    return [(p.stage, p.due_at.astimezone(zone).replace(tzinfo=None), p.channels)
            for p in plan(touches, starts_at=starts_at, zone=zone, now=now)]


WEEK_BEFORE = local(2026, 6, 1, 9)

# (touches, appointment start (Paris), booked at (Paris), expected [(stage, local due, channels)])
TABLE = [
    # One touch: the seed's 48 hours, both channels.
    ([Touch(48, BOTH)], local(2026, 6, 10, 10), WEEK_BEFORE, [(48, datetime(2026, 6, 8, 10), BOTH)]),
    # Two touches, as the NHS: a week by email, then 48 hours on both.
    ([Touch(168, EMAIL), Touch(48, BOTH)], local(2026, 6, 17, 10), WEEK_BEFORE,
     [(168, datetime(2026, 6, 10, 10), EMAIL), (48, datetime(2026, 6, 15, 10), BOTH)]),
    # Three touches.
    ([Touch(168, EMAIL), Touch(48, SMS), Touch(3, SMS)], local(2026, 6, 17, 14), WEEK_BEFORE,
     [(168, datetime(2026, 6, 10, 14), EMAIL), (48, datetime(2026, 6, 15, 14), SMS),
      (3, datetime(2026, 6, 17, 11), SMS)]),
    # Late booking: the week-before touch has passed, the 48-hour one still applies.
    ([Touch(168, EMAIL), Touch(48, BOTH)], local(2026, 6, 5, 10), WEEK_BEFORE, [(48, datetime(2026, 6, 3, 10), BOTH)]),
    # Late booking: every touch has passed, none is planned (the confirmation says it all).
    ([Touch(168, EMAIL), Touch(48, BOTH)], local(2026, 6, 2, 10), WEEK_BEFORE, []),
    # Quiet hours: an SMS due at 22:00 goes out at 20:30 the same evening...
    ([Touch(48, SMS)], local(2026, 6, 10, 22), WEEK_BEFORE, [(48, datetime(2026, 6, 8, 20, 30), SMS)]),
    # ...one due at 07:00 at 20:30 the evening before...
    ([Touch(2, BOTH)], local(2026, 6, 10, 9), WEEK_BEFORE, [(2, datetime(2026, 6, 9, 20, 30), BOTH)]),
    # ...while an email alone keeps its time.
    ([Touch(2, EMAIL)], local(2026, 6, 10, 9), WEEK_BEFORE, [(2, datetime(2026, 6, 10, 7), EMAIL)]),
    # Booked at 22:00 for 11:00 tomorrow with a 12-hour touch (due 23:00): 20:30 has passed,
    # 08:00 still leaves three hours (minimum notice two).
    ([Touch(12, SMS)], local(2026, 6, 10, 11), local(2026, 6, 9, 22), [(12, datetime(2026, 6, 10, 8), SMS)]),
    # ...for 09:00 tomorrow (due 21:00): 08:00 leaves one hour, under the minimum: skipped.
    ([Touch(12, SMS)], local(2026, 6, 10, 9), local(2026, 6, 9, 22), []),
]


@pytest.mark.parametrize("touches, starts_at, now, expected", TABLE)
def test_the_schedule_as_a_table(touches, starts_at, now, expected):
    assert planned(touches, starts_at, now) == expected


def test_hours_are_real_hours_across_the_spring_change():
    # Monday 30 March 2026 9:00 (summer time since Sunday): 48 real hours earlier is 8:00 on
    # Saturday, winter time.
    assert planned([Touch(48, BOTH)], local(2026, 3, 30, 9), WEEK_BEFORE.replace(month=3)) == [
        (48, datetime(2026, 3, 28, 8), BOTH)]


def test_hours_are_real_hours_across_the_autumn_change():
    # Monday 26 October 2026 9:00 (winter time since Sunday): 48 hours earlier is 10:00.
    assert planned([Touch(48, BOTH)], local(2026, 10, 26, 9), local(2026, 10, 1, 9)) == [
        (48, datetime(2026, 10, 24, 10), BOTH)]


def test_quiet_hours_across_the_spring_change():
    # Sunday 29 March 2026 10:00 (summer time, since 2:00): 12 real hours before is 21:00 on
    # Saturday (winter time) — quiet: 20:30 that evening, winter time (19:30 UTC).
    [(stage, due, channels)] = planned([Touch(12, SMS)], local(2026, 3, 29, 10), local(2026, 3, 20, 9))
    assert due == datetime(2026, 3, 28, 20, 30)
    moved = plan([Touch(12, SMS)], starts_at=local(2026, 3, 29, 10), zone=PARIS, now=local(2026, 3, 20, 9))[0]
    assert moved.due_at == datetime(2026, 3, 28, 19, 30, tzinfo=UTC)


def test_quiet_hours_across_the_autumn_change():
    # Sunday 25 October 2026 9:00 (winter time since 3:00): 10 real hours before is 00:00
    # (summer time) — quiet: 20:30 on Saturday, summer time.
    [(stage, due, channels)] = planned([Touch(10, SMS)], local(2026, 10, 25, 9), local(2026, 10, 20, 9))
    assert due == datetime(2026, 10, 24, 20, 30)
    moved = plan([Touch(10, SMS)], starts_at=local(2026, 10, 25, 9), zone=PARIS, now=local(2026, 10, 20, 9))[0]
    assert moved.due_at == datetime(2026, 10, 24, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize("zone", [GUADELOUPE, REUNION], ids=["guadeloupe", "reunion"])
def test_quiet_hours_are_the_appointments_local_hours_overseas(zone):
    # 08:30 local: a 12-hour touch is due at 20:30 local — allowed there, whatever Paris says.
    assert planned([Touch(12, SMS)], local(2026, 6, 10, 8, 30, zone=zone), local(2026, 6, 1, 9, zone=zone), zone) == [
        (12, datetime(2026, 6, 9, 20, 30), SMS)]
    # 09:00 local: due 21:00 local, quiet: 20:30 local.
    assert planned([Touch(12, SMS)], local(2026, 6, 10, 9, zone=zone), local(2026, 6, 1, 9, zone=zone), zone) == [
        (12, datetime(2026, 6, 9, 20, 30), SMS)]
    # 20:00 local: a 2-hour touch is due at 18:00 local, whatever the hour in Paris.
    assert planned([Touch(2, SMS)], local(2026, 6, 10, 20, zone=zone), local(2026, 6, 1, 9, zone=zone), zone) == [
        (2, datetime(2026, 6, 10, 18), SMS)]


@override_settings(REMINDER_QUIET_HOURS="")
def test_no_quiet_hours_when_the_setting_is_empty():
    assert planned([Touch(48, SMS)], local(2026, 6, 10, 22), WEEK_BEFORE) == [(48, datetime(2026, 6, 8, 22), SMS)]


# --- The planned reminders in the database -------------------------------------------------

def three_touches(motif):
    schedule = ReminderSchedule.objects.create(motif=motif)
    schedule.touches.create(hours_before=168, channels=EMAIL)
    schedule.touches.create(hours_before=48, channels=BOTH)
    schedule.touches.create(hours_before=3, channels=SMS)
    return schedule


def stages(appointment, status=ReminderState.PLANNED):
    return sorted(appointment.planned_reminders.filter(status=status).values_list("stage", "sequence"))


def test_a_motif_without_schedule_gets_the_default_single_touch(demo):
    appointment = demo.book(days=10)
    assert stages(appointment) == [(48, 0)]
    assert planned_due(appointment) == [appointment.starts_at - timedelta(hours=48)]
    assert appointment.planned_reminders.get().channels == BOTH


def test_a_motif_schedule_plans_each_touch_and_a_move_replans_them_all(demo):
    three_touches(demo.cni)
    appointment = demo.book(motif=demo.cni, days=10, hour=14)
    assert stages(appointment) == [(3, 0), (48, 0), (168, 0)]
    services.reschedule(appointment, starts_at=appointment.starts_at + timedelta(days=7), agent=demo.camille)
    assert stages(appointment) == [(3, 1), (48, 1), (168, 1)]
    assert stages(appointment, ReminderState.CANCELLED) == [(3, 0), (48, 0), (168, 0)]
    assert planned_due(appointment)[-1] == appointment.starts_at - timedelta(hours=3)


def test_a_cancellation_cancels_every_touch(demo):
    three_touches(demo.cni)
    appointment = demo.book(motif=demo.cni, days=10, hour=14)
    services.cancel(appointment, actor=BookedBy.CITIZEN)
    assert stages(appointment) == []
    assert len(stages(appointment, ReminderState.CANCELLED)) == 3


def test_each_touch_goes_out_once_on_its_own_channels(demo, committed, sms_outbox):
    three_touches(demo.cni)
    appointment = demo.book(motif=demo.cni, days=10, hour=14)
    start = appointment.starts_at
    with committed():
        for hours in (168, 48, 3):
            assert sweep_due_reminders(now=start - timedelta(hours=hours)) == 1
            assert sweep_due_reminders(now=start - timedelta(hours=hours)) == 0  # beat twice
    sent = sorted(Notification.objects.filter(event=Event.REMINDER).values_list("stage", "channel", "status"))
    assert sent == [(3, "sms", "sent"), (48, "email", "sent"), (48, "sms", "sent"), (168, "email", "sent")]
    assert stages(appointment, ReminderState.SENT) == [(3, 0), (48, 0), (168, 0)]


def test_the_confirmation_promises_the_motifs_touches(demo, client):
    from .public_pages import CONTACT, book, first_slot_url, text

    three_touches(demo.cni)
    url = first_slot_url(client, demo.cni, demo.lyon_place)
    done = text(client.get(book(client, url).url))
    appointment = demo.cni.appointments.get()
    words = [p.stage for p in appointment.planned_reminders.all()]
    # Whatever the slot, the page names the touches that were planned, and only them.
    for hours, phrase in ((168, "un rappel 7 jours avant le rendez-vous par e-mail"),
                          (48, "un rappel 48 heures avant le rendez-vous"),
                          (3, "un rappel 3 heures avant le rendez-vous par SMS")):
        assert (phrase in done) == (hours in words), (phrase, words)
    assert CONTACT["email"] in done


def test_the_agent_sees_planned_and_sent_reminders_on_the_appointment(demo, client, committed):
    from .factories import user

    appointment = demo.book(days=10)
    with committed():
        sweep_due_reminders(now=appointment.starts_at - timedelta(hours=47))
    client.force_login(user("camille.martin"))
    page = client.get(f"/admin/appointments/appointment/{appointment.pk}/change/").content.decode()
    assert "rappels prévus et partis" in page.lower()
    assert "48 h avant" in page and "parti" in page


def test_only_an_administrator_edits_the_schedules(demo, client, admin_user):
    from .factories import user

    client.force_login(user("camille.martin"))
    assert client.get("/admin/notifications/reminderschedule/").status_code == 403
    client.force_login(admin_user)
    response = client.post("/admin/notifications/reminderschedule/add/", {
        "motif": demo.cni.pk, "touches-TOTAL_FORMS": "2", "touches-INITIAL_FORMS": "0",
        "touches-0-hours_before": "168", "touches-0-channels": EMAIL,
        "touches-1-hours_before": "48", "touches-1-channels": BOTH,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    appointment = demo.book(motif=demo.cni, days=10)
    assert stages(appointment) == [(48, 0), (168, 0)]


def test_existing_plans_survive_unchanged_for_a_sweep_racing_a_move(demo, django_capture_on_commit_callbacks):
    """A move after a touch was claimed: the claimed touch is left as sent (its notifications
    are dropped at delivery, see test_reminders), the new version's touches are planned."""
    appointment = demo.book(days=10)
    with django_capture_on_commit_callbacks(execute=False):
        sweep_due_reminders(now=appointment.starts_at - timedelta(hours=47))
    services.reschedule(appointment, starts_at=appointment.starts_at + timedelta(days=7), agent=demo.camille)
    assert stages(appointment, ReminderState.SENT) == [(48, 0)]
    assert stages(appointment) == [(48, 1)]
    assert PlannedReminder.objects.filter(appointment=appointment).count() == 2


def test_the_confirmation_email_says_which_reminders_will_come(demo, committed):
    from django.core import mail

    three_touches(demo.cni)
    with committed():
        demo.book(motif=demo.cni, days=10, hour=14)
    [email] = [m for m in mail.outbox if "confirm" in m.subject.lower()]
    assert ("Vous recevrez un rappel 7 jours avant le rendez-vous par e-mail, un rappel 48 heures avant le "
            "rendez-vous et un rappel 3 heures avant le rendez-vous par SMS.") in email.body


# --- One reminder SMS per number and day ------------------------------------------------------

def two_the_same_day(demo, *, second_motif=None, days=(10, 10)):
    first = demo.book(contacts=[demo.contact()], days=days[0], hour=10)
    second = demo.book(contacts=[demo.contact()], days=days[1], hour=14, motif=second_motif)  # a new contact, same number
    return first, second


def test_two_appointments_the_same_day_get_one_reminder_sms_naming_both(demo, committed, sms_outbox):
    from appointments.models import Motif

    other = Motif.objects.filter(organisation=demo.cni.organisation).exclude(service=demo.cni.service).first()
    first, second = two_the_same_day(demo, second_motif=other)
    mail_before = len(__import__("django.core.mail", fromlist=["outbox"]).outbox)
    with committed():
        assert sweep_due_reminders(now=first.starts_at - timedelta(hours=48)) == 1
        assert sweep_due_reminders(now=first.starts_at - timedelta(hours=48)) == 0  # beat twice
        assert sweep_due_reminders(now=second.starts_at - timedelta(hours=48)) == 1
    reminders_sms = [m for m in sms_outbox if m.body.startswith("Rappel")]
    assert len(reminders_sms) == 1
    [body] = [m.body for m in reminders_sms]
    assert body.startswith("Rappel : 2 RDV ") and "10h00" in body and "14h00" in body
    assert first.link_url() in body and second.link_url() in body
    sms = Notification.objects.filter(event=Event.REMINDER, channel="sms")
    assert sorted(sms.values_list("appointment_id", "status")) == sorted([(first.pk, "sent"), (second.pk, "cancelled")])
    lead = sms.get(appointment=first)
    assert lead.also == [second.pk] and lead.segments == 1
    # Emails are not grouped: one each.
    emails = Notification.objects.filter(event=Event.REMINDER, channel="email", status="sent")
    assert sorted(emails.values_list("appointment_id", flat=True)) == sorted([first.pk, second.pk])
    assert len(__import__("django.core.mail", fromlist=["outbox"]).outbox) == mail_before + 2


@override_settings(PUBLIC_BASE_URL="https://rdv-solidarites.beta.gouv.fr")
def test_a_day_reminder_too_long_for_one_segment_takes_two_and_says_so(demo, committed, sms_outbox):
    first, second = two_the_same_day(demo)
    third = demo.book(contacts=[demo.contact()], days=10, hour=16)
    with committed():
        sweep_due_reminders(now=third.starts_at - timedelta(hours=48))
    lead = Notification.objects.get(event=Event.REMINDER, channel="sms", status="sent")
    assert sorted(lead.also) == sorted([second.pk, third.pk])
    assert lead.segments == 2
    [body] = [m.body for m in sms_outbox if m.body.startswith("Rappel")]
    assert body.startswith("Rappel : 3 RDV ")


def test_appointments_on_different_days_get_their_own_reminder_sms(demo, committed, sms_outbox):
    first, second = two_the_same_day(demo, days=(10, 11))
    with committed():
        sweep_due_reminders(now=second.starts_at - timedelta(hours=48))
    assert sorted(Notification.objects.filter(event=Event.REMINDER, channel="sms").values_list("status", "also")) == [
        ("sent", []), ("sent", [])]


@pytest.mark.parametrize("organisation_name, zone", [
    ("Préfecture de la Guadeloupe", GUADELOUPE),
    ("Département de La Réunion", REUNION),
], ids=["guadeloupe", "reunion"])
def test_a_booking_overseas_keeps_quiet_hours_in_the_places_time(demo, organisation_name, zone):
    from appointments.models import Motif, Organisation

    from .support.dates import upcoming

    organisation = Organisation.objects.get(name__startswith=organisation_name)
    motif = Motif.objects.filter(organisation=organisation, location_type="on_site").first() or \
        Motif.objects.filter(organisation=organisation).first()
    place = organisation.places.get()
    # 22:00 there, a Wednesday some weeks ahead: 48 hours before is 22:00 there, quiet, so 20:30 there.
    starts_at = upcoming(2, 22, zone=zone, after_days=14)
    appointment = demo.book(motif=motif, place=place if motif.location_type == "on_site" else None,
                            contacts=[demo.contact(organisation)], agents=[organisation.agents.first()],
                            starts_at=starts_at)
    [due] = planned_due(appointment)
    expected = (starts_at - timedelta(days=2)).replace(hour=20, minute=30)
    assert due.astimezone(zone).replace(tzinfo=None) == expected.replace(tzinfo=None)
