"""Agents see each appointment's notifications and their statuses, and can resend one;
the development outboxes are readable by a person in the admin."""

import re

from django.core import mail

from notifications.models import EmailOutboxMessage, Notification, SmsOutboxMessage, Status
from notifications.tasks import send_email, send_sms

from .factories import user


def test_the_appointment_page_lists_its_notifications(camille_client, demo, committed):
    with committed():
        appointment = demo.book()
    page = camille_client.get(f"/admin/appointments/appointment/{appointment.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "notifications envoyées" in content.lower()
    statuses = re.findall(r'field-status">\s*(?:<p>)?([^<]+)<', content)
    assert [s.strip() for s in statuses if s.strip()] == ["envoyé", "envoyé"]


def test_agents_see_only_their_organisations_notifications(client, demo, committed):
    with committed():
        demo.book()
    client.force_login(user("sophie.lefebvre"))  # another organisation
    page = client.get("/admin/notifications/notification/")
    assert page.status_code == 200
    assert "0 notification" in page.content.decode()
    client.force_login(user("camille.martin"))
    assert "2 notifications" in client.get("/admin/notifications/notification/").content.decode()


def resend(client, *notifications):
    return client.post("/admin/notifications/notification/", {
        "action": "resend_selected", "_selected_action": [n.pk for n in notifications]}, follow=True)


def test_resending_makes_a_new_attempt_and_keeps_the_history(camille_client, demo, committed, sms_outbox):
    with committed():
        demo.book()
    sms = Notification.objects.get(channel="sms", resend=0)
    Notification.objects.filter(pk=sms.pk).update(status=Status.UNDELIVERED, error_code="30003")
    with committed():
        response = resend(camille_client, sms)
    assert "1 notification renvoyée." in response.content.decode()
    assert list(Notification.objects.filter(channel="sms").order_by("resend").values_list("resend", "status")) == [
        (0, Status.UNDELIVERED), (1, Status.SENT)]
    assert len(sms_outbox) == 2


def test_a_notification_in_flight_is_not_resent(camille_client, demo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        demo.book()  # tasks not run yet: both records pending
    sms = Notification.objects.get(channel="sms")
    response = resend(camille_client, sms)
    assert "un envoi est déjà en cours" in response.content.decode()
    assert Notification.objects.filter(channel="sms").count() == 1


def test_the_outboxes_are_readable_by_a_superuser(client, demo, settings):
    settings.SMS_BACKEND = "outbox"
    settings.EMAIL_BACKEND = "notifications.mail.OutboxEmailBackend"
    appointment = demo.book()  # the tests' transaction never commits: run the tasks by hand
    for notification in Notification.objects.all():
        (send_sms if notification.channel == "sms" else send_email).apply(args=[notification.pk])
    sms, email = SmsOutboxMessage.objects.get(), EmailOutboxMessage.objects.get()
    assert appointment.link_url() in sms.body and sms.segments == 1
    assert email.subject.startswith("Rendez-vous confirmé") and "rendez-vous.ics" in email.attachments
    assert "BEGIN:VCALENDAR" in email.attachments and "<html" in email.html
    client.force_login(user("admin"))
    assert appointment.link_url() in client.get("/admin/notifications/smsoutboxmessage/").content.decode()
    assert client.get(f"/admin/notifications/emailoutboxmessage/{email.pk}/change/").status_code == 200
    client.force_login(user("camille.martin"))
    assert client.get("/admin/notifications/smsoutboxmessage/").status_code == 403
    assert mail.outbox == []


def test_demo_agents_may_view_and_resend_notifications(demo):
    camille = user("camille.martin")
    assert camille.has_perm("notifications.view_notification")
    assert camille.has_perm("notifications.resend_notification")


# --- One time zone, said -----------------------------------------------------------------------


def test_the_admin_says_which_zone_each_time_is_in(client, demo, django_capture_on_commit_callbacks):
    """Operational times (a notification's, its status log's) in TIME_ZONE with "heure de Paris"
    in the heading, as Flower shows its task times; the appointment's own (its reminder's due
    time) in its place's zone, named. Guadeloupe is UTC-4 all year, Paris UTC+1 or +2."""
    from datetime import UTC, datetime

    from appointments.models import Agent, LocationType, Motif
    from notifications.models import PlannedReminder, StatusEvent

    agent = Agent.objects.filter(organisations=demo.guadeloupe).first()
    motif = Motif.objects.filter(organisation=demo.guadeloupe, location_type=LocationType.ON_SITE).first()
    with django_capture_on_commit_callbacks(execute=False):
        appointment = demo.book(motif=motif, place=demo.guadeloupe_place, agents=[agent], booked_by_agent=agent,
                                contacts=[demo.contact(demo.guadeloupe, phone="+590690123456")])
    sms = Notification.objects.get(appointment=appointment, channel="sms")
    winter = datetime(2026, 1, 15, 13, 30, tzinfo=UTC)  # 14:30 in Paris, 09:30 in Guadeloupe
    Notification.objects.filter(appointment=appointment).update(created_at=winter)
    StatusEvent.objects.create(notification=sms, status=Status.DELIVERED, raw_event="delivered",
                               received_at=datetime(2026, 7, 1, 8, 5, tzinfo=UTC))  # summer: 10:05 in Paris
    reminder = PlannedReminder.objects.filter(appointment=appointment).first()
    due = timezone_local(reminder.due_at, "America/Guadeloupe")
    client.force_login(get_superuser())

    page = client.get(f"/admin/appointments/appointment/{appointment.pk}/change/").content.decode()
    assert "créée le (heure de paris)" in page.lower() and "envoyée le (heure de paris)" in page.lower()
    assert "prévu le (heure du rendez-vous)" in page.lower()
    assert f"{due:%d/%m/%Y %H:%M} (heure de la Guadeloupe)" in page
    assert "14:30" in cell(page, "created") and "13:30" not in cell(page, "created")

    page = client.get(f"/admin/notifications/notification/{sms.pk}/change/").content.decode()
    assert "reçu le (heure de paris)" in page.lower() and "mise à jour le (heure de paris)" in page.lower()
    assert "10:05" in cell(page, "received") and "08:05" not in cell(page, "received")

    listing = client.get("/admin/notifications/notification/").content.decode()
    assert "créée le (heure de paris)" in listing.lower()


def timezone_local(moment, zone):
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zone))


def get_superuser():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("ops", "ops@exemple.fr", "x" * 16)


def cell(page, field):
    """The text of the first cell (or read-only field) of that admin field."""
    found = re.search(rf'field-{field}[^>]*>(.*?)</(?:td|div)>', page, re.S)
    assert found, field
    return found.group(1)
