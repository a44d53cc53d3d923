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
