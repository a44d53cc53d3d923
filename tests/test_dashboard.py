"""The agents' dashboard: notification counts by status and channel over the last days, as
an SVG bar chart drawn server-side, plus the same totals as a table; scoped to the agent's
organisations."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from notifications.models import Notification, Status

from .factories import user

pytestmark = pytest.mark.django_db
URL = "/admin/notifications/notificationdashboard/"


@pytest.fixture
def sent(demo, committed):  # noqa: F811
    """Two Lyon appointments told by SMS and email (one SMS failed), one in Guadeloupe."""
    with committed():
        first = demo.book()
        demo.book(hour=14)
        demo.book(motif=demo.guadeloupe.motifs.filter(bookable_publicly=True).first() or demo.guadeloupe.motifs.first(),
                  agents=[demo.julien] if demo.julien.organisations.filter(pk=demo.guadeloupe.pk).exists() else None)
    Notification.objects.filter(appointment=first, channel="sms", contact__isnull=False).update(status=Status.FAILED)
    return first


def rects(html):
    return re.findall(r"<rect x=\"[\d.]+\" y=\"[\d.]+\" width=\"[\d.]+\" height=\"([\d.]+)\" fill=\"(#[0-9a-f]{6})\"><title>([^<]*)</title>", html)


def test_an_agent_sees_a_bar_chart_per_channel_and_the_totals(client, demo, sent):
    client.force_login(user("camille.martin"))
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg class=\"notification-chart\"") == 2  # SMS and email
    bars = rects(html)
    titles = [title for _h, _c, title in bars]
    assert any(t.endswith("échec : 1") for t in titles), titles
    lyon = Notification.objects.filter(appointment__organisation=demo.lyon)
    sms_sent = lyon.filter(channel="sms", status=Status.SENT).count()
    assert any(t.endswith(f"envoyé : {sms_sent}") for t in titles), titles
    # Every drawn bar has a height in proportion, none empty.
    assert all(float(height) > 0 for height, _c, _t in bars)


def test_the_counts_are_scoped_to_the_agents_organisations(client, demo, sent):
    client.force_login(user("camille.martin"))
    response = client.get(URL)
    email_total = response.context["channels"][1]["chart"]["total"]
    lyon_emails = Notification.objects.filter(appointment__organisation=demo.lyon, channel="email").count()
    assert Notification.objects.filter(channel="email").exclude(appointment__organisation=demo.lyon).exists()
    assert email_total == lyon_emails


def test_the_period_is_chosen_and_bounded(client, demo, sent):
    client.force_login(user("camille.martin"))
    lyon = Notification.objects.filter(appointment__organisation=demo.lyon)
    Notification.objects.filter(pk=lyon.first().pk).update(created_at=timezone.now() - timedelta(days=20))
    total = lambda r: sum(c["chart"]["total"] for c in r.context["channels"])  # noqa: E731
    fortnight, month = client.get(URL), client.get(URL + "?jours=30")
    assert len(fortnight.context["channels"][0]["chart"]["bars"]) == 14
    assert total(month) == total(fortnight) + 1
    assert client.get(URL + "?jours=100000").context["days"] == 90
    assert client.get(URL + "?jours=abc").context["days"] == 14


def test_agents_without_the_notification_permission_do_not_see_it(client, demo):
    agent = user("camille.martin")
    for group in agent.groups.all():
        group.permissions.remove(Permission.objects.get(codename="view_notification"))
    client.force_login(agent)
    assert client.get(URL).status_code == 403
    assert "notificationdashboard" not in client.get("/admin/").content.decode()
